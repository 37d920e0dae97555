"""Section 4 of the inference benchmark: compile time of generated 1,000-entry specs
(a routed chain and a binary tree of small conv blocks)."""
from __future__ import annotations

import statistics

from timing import once

from routegraph.graph import compile_spec
from routegraph.nn import build_model


def generated_spec(n_nodes: int, shape: str):
    """A routed chain or binary tree of small conv layers with ``n_nodes`` entries (nodes + junctions)."""
    from routegraph.spec.schema import Spec

    nodes: list[dict] = []
    router = [{"kind": "linear", "features": 4}, {"kind": "relu"}, {"kind": "linear", "features": 2}]
    counter = [0]

    def fresh(p):
        counter[0] += 1
        return f"{p}{counter[0]}"

    def block(src):
        conv = fresh("conv")
        relu, desc = fresh("relu"), fresh("desc")
        nodes.extend([{"name": conv, "kind": "conv2d", "input": src, "channels": 4},
                      {"name": relu, "kind": "relu", "input": conv},
                      {"name": desc, "kind": "flatten", "input": relu}])
        return conv, relu, desc

    def exit_(desc):
        name = fresh("exit")
        nodes.append({"name": name, "kind": "classifier", "input": desc, "classes": 10})
        return name

    def budget_left():
        return n_nodes - len(nodes)

    if shape == "chain":
        _, relu, desc = block("stem")
        while budget_left() >= 1 + 5 + 1:  # exit + junction + block, then the last exit
            out = exit_(desc)
            junction = {"name": fresh("j"), "kind": "junction", "router": {"reads": desc, "layers": router}, "sinks": [out]}
            nodes.append(junction)
            conv, relu, desc = block(relu)
            junction["sinks"].append(conv)
        exit_(desc)
    else:  # binary tree, breadth-first, while the budget allows
        _, relu, desc = block("stem")
        frontier = [(relu, desc)]
        while frontier:
            relu, desc = frontier.pop(0)
            # splitting costs a junction and two blocks (7) and turns one future exit into two
            if budget_left() - 7 - 1 < len(frontier) + 2:
                exit_(desc)
                continue
            junction = {"name": fresh("j"), "kind": "junction", "router": {"reads": desc, "layers": router}, "sinks": []}
            nodes.append(junction)
            for _ in range(2):
                conv, r2, d2 = block(relu)
                junction["sinks"].append(conv)
                frontier.append((r2, d2))
    # the stem: a chain of parameter-free nodes from the image, padding to exactly n_nodes
    stem, src = [], "image"
    for _ in range(max(budget_left(), 1)):
        stem.append({"name": fresh("pad"), "kind": "relu", "input": src})
        src = stem[-1]["name"]
    for node in nodes:
        if node.get("input") == "stem":
            node["input"] = src
    nodes[:0] = stem
    return Spec(name=f"generated_{shape}", input={"name": "image", "shape": [3, 8, 8]}, nodes=nodes)


def section_compile(quick: bool):
    from routegraph.infer.plan import build_plan

    rows = []
    for shape in ("chain", "tree"):
        spec = generated_spec(1000, shape)
        times = [once(lambda: compile_spec(spec)) for _ in range(3 if quick else 5)]
        graph = compile_spec(spec)
        build = once(lambda: build_model(graph))
        model = build_model(graph).eval()
        plan = once(lambda: build_plan(model))
        rows.append({"shape": shape, "entries": len(spec.nodes), "nodes": len(graph.nodes), "junctions": len(graph.junctions),
                     "regions": len(graph.regions), "paths": len(graph.paths), "compile_s": statistics.median(times),
                     "build_model_s": build, "plan_s": plan})
        print(f"  {shape}: {len(spec.nodes)} entries ({len(graph.nodes)} nodes + {len(graph.junctions)} junctions), "
              f"compile {statistics.median(times):.3f} s, build_model {build:.3f} s, plan {plan:.3f} s", flush=True)
    return rows
