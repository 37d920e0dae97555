"""Fake run directories for the picture tests (docs/run-format.md, exactly), no training.

Graphs are compiled from in-memory specs; statistics are synthetic and
deterministic. Also used by scripts that draw the example images in docs/.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

from routegraph.graph import compile_spec, static_baseline
from routegraph.graph.compiled import CompiledGraph
from routegraph.graph.layering import classifier_layers
from routegraph.spec.schema import Spec

ROUTER = [{"kind": "linear", "features": 4}, {"kind": "relu"}]


def chain_graph(depth: int = 3, classes: int = 4, channels: int = 2, size: int = 6, name: str = "tiny_chain") -> CompiledGraph:
    """conv -> relu -> flatten -> classifier per layer; 2-way junctions {classify, go on}."""
    nodes, previous = [], "image"
    for i in range(1, depth + 1):
        nodes += [
            {"name": f"conv{i}", "kind": "conv2d", "input": previous, "channels": channels},
            {"name": f"relu{i}", "kind": "relu", "input": f"conv{i}"},
            {"name": f"desc{i}", "kind": "flatten", "input": f"relu{i}"},
            {"name": f"exit{i}", "kind": "classifier", "input": f"desc{i}", "classes": classes},
        ]
        if i < depth:
            nodes.append({"name": f"j{i}", "kind": "junction",
                          "router": {"reads": f"desc{i}", "layers": ROUTER + [{"kind": "linear", "features": 2}]},
                          "sinks": [f"exit{i}", f"conv{i + 1}"]})
        previous = f"relu{i}"
    return compile_spec(Spec(name=name, input={"name": "image", "shape": [1, size, size]}, nodes=nodes))


def branching_graph(classes: int = 3) -> CompiledGraph:
    """Layer 1, a 3-way junction {classify, a, b}; a and b are 2-layer chains."""
    def layer(prefix: str, src: str) -> list[dict]:
        return [
            {"name": f"{prefix}.conv", "kind": "conv2d", "input": src, "channels": 2},
            {"name": f"{prefix}.desc", "kind": "flatten", "input": f"{prefix}.conv"},
            {"name": f"{prefix}.exit", "kind": "classifier", "input": f"{prefix}.desc", "classes": classes},
        ]

    def junction(name: str, reads: str, sinks: list[str]) -> dict:
        return {"name": name, "kind": "junction", "sinks": sinks,
                "router": {"reads": reads, "layers": ROUTER + [{"kind": "linear", "features": len(sinks)}]}}

    nodes = layer("l1", "image") + [junction("j1", "l1.desc", ["l1.exit", "a.l2.conv", "b.l2.conv"])]
    for branch in ("a", "b"):
        nodes += layer(f"{branch}.l2", "l1.conv")
        nodes.append(junction(f"{branch}.j2", f"{branch}.l2.desc", [f"{branch}.l2.exit", f"{branch}.l3.conv"]))
        nodes += layer(f"{branch}.l3", f"{branch}.l2.conv")
    return compile_spec(Spec(name="tiny_tree", input={"name": "image", "shape": [1, 4, 4]}, nodes=nodes))


def default_fractions(graph: CompiledGraph, k_cpt: float) -> dict[str, float]:
    """Deeper classifiers get fewer examples as k_cpt grows (a plausible Fig. 6 pattern)."""
    strength = 0.3 + 4e8 * k_cpt
    weights = {c: math.exp(-strength * len(graph.path(c).decisions)) * (1.0 + 0.15 * i)
               for i, c in enumerate(graph.classifiers)}
    total = sum(weights.values())
    return {c: w / total for c, w in weights.items()}


def synthetic_evaluation(graph: CompiledGraph, k_cpt: float | None, *, n: int = 1000, num_classes: int | None = None,
                         fractions: dict[str, float] | None = None, split: str = "test", seed: int = 0) -> dict:
    """An evaluation record with the given (or default) fraction per classifier."""
    rng = random.Random(seed)
    classes = num_classes or graph.num_classes
    fractions = fractions or default_fractions(graph, k_cpt or 0.0)
    counts = {c: int(round(fractions.get(c, 0.0) * n)) for c in graph.classifiers}
    record = {"k_cpt": k_cpt, "split": split, "n": n, "classifiers": {}, "junctions": {}}
    errors = ops = 0.0
    for i, classifier in enumerate(graph.classifiers):
        count = counts[classifier]
        accuracy = 0.95 - 0.5 * i / max(1, len(graph.classifiers))
        by_class = [0] * classes
        preferred = i % classes
        for _ in range(count):
            by_class[preferred if rng.random() < 0.5 else rng.randrange(classes)] += 1
        correct = [int(round(v * accuracy)) for v in by_class]
        incorrect = [v - c for v, c in zip(by_class, correct)]
        path = graph.path(classifier)
        record["classifiers"][classifier] = {
            "layer": classifier_layers(graph)[classifier], "depth": len(path.decisions), "path_ops": int(path.ops), "count": count,
            "fraction": count / n, "accuracy": sum(correct) / count if count else None,
            "correct_by_class": correct, "incorrect_by_class": incorrect,
        }
        errors += sum(incorrect)
        ops += count * path.ops
    for junction in graph.junctions:
        histogram = []
        for region in junction.sink_regions:
            below = set(graph.subtree_regions(region))
            histogram.append(sum(counts[c] for c in graph.classifiers if graph.path(c).region in below))
        record["junctions"][junction.name] = {"histogram": histogram}
    record.update(error_rate=errors / n, mean_ops=ops / n, full_ops=max(p.ops for p in graph.paths))
    return record


def make_run(root: Path, name: str, graph: CompiledGraph, *, method: str = "actor", k_cpt: float | None = 4e-9,
             dynamic: bool = False, label: str | None = None, class_names: list[str] | None = None,
             evaluations: list[dict] | None = None, k_values: list[float] | None = None, with_eval: bool = True,
             metrics: bool = True, iterations: int = 400, spec: str = "specs/tiny_chain.yaml",
             static_classifier: str | None = None, spec_params: dict | None = None, seed: int = 0,
             legacy_static: bool = False) -> Path:
    """Write a run directory: config.json, compiled.json, metrics.jsonl, eval.json.
    ``legacy_static``: a static run as saved before ``static_layer`` existed (``static_depth``,
    the number of routing decisions, in config.json and the graph's params)."""
    path = Path(root) / name
    path.mkdir(parents=True, exist_ok=True)
    classes = graph.num_classes
    class_names = class_names or [f"class{i}" for i in range(classes)]
    static = {"static_layer": None}
    if method == "static":
        static_classifier = static_classifier or graph.classifiers[-1]
        depth = len(graph.path(static_classifier).decisions)
        graph = static_baseline(graph, static_classifier)
        static = {"static_layer": graph.params["static_layer"]}
        if legacy_static:
            params = {k: v for k, v in graph.params.items() if k != "static_layer"} | {"static_depth": depth}
            graph, static = replace(graph, params=params), {"static_depth": depth}
    k_set = [0.0, 1e-9, 2e-9, 4e-9, 8e-9, 1.6e-8]
    config = {
        "format": "routegraph.run/1", "run_id": f"{name}-abc123", "method": method,
        "label": label or (method + (" (dynamic k_cpt)" if dynamic else "")),
        "spec": spec, "spec_params": spec_params or {}, "overrides": {},
        "static_classifier": static_classifier, **static,
        "k_cpt": None if dynamic else k_cpt, "dynamic_k_cpt": dynamic, "k_cpt_set": k_set,
        "data": "synthetic", "data_options": {}, "class_names": class_names, "seed": seed,
        "iterations": iterations, "train": {"method": method, "batch_size": 128, "k_dec": 0.01},
    }
    (path / "config.json").write_text(json.dumps(config, indent=1))
    (path / "compiled.json").write_text(graph.dumps())
    if metrics:
        lines = []
        for it in range(50, iterations + 1, 50):
            lines.append({"iteration": it, "loss": 2.0 * math.exp(-it / 200) + 0.3, "error": 0.7 * math.exp(-it / 300) + 0.1,
                          "mean_ops": 1e4 * (1 + it / iterations), "tau": 1.0, "lr": 0.02, "examples_per_s": 800.0})
            if it % 100 == 0:
                grow = it / iterations
                k_eval = (k_set[len(k_set) // 2] if dynamic else k_cpt) or 0.0
                fractions = default_fractions(graph, k_eval * grow)
                lines.append({"iteration": it, "eval": synthetic_evaluation(graph, k_eval, n=200, fractions=fractions,
                                                                               split="validation", seed=it)})
        (path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    if with_eval:
        if evaluations is None:
            ks = k_values or (k_set if dynamic else [k_cpt])
            evaluations = [synthetic_evaluation(graph, k, seed=seed) for k in ks]
        data = {"run_id": config["run_id"], "class_names": class_names, "evaluations": evaluations}
        (path / "eval.json").write_text(json.dumps(data, indent=1))
    return path


def make_experiment(root: Path, graph: CompiledGraph | None = None) -> list[Path]:
    """A small Fig. 5 experiment: 3 static baselines, 3 actor runs, 2 pragmatic critic runs, 1 dynamic run."""
    graph = graph or chain_graph()
    paths = [make_run(root, f"sr-{i + 1}", graph, method="static", k_cpt=0.0, static_classifier=c, seed=i)
             for i, c in enumerate(graph.classifiers)]
    paths += [make_run(root, f"ac-{k:.0e}", graph, method="actor", k_cpt=k) for k in (0.0, 2e-9, 8e-9)]
    paths += [make_run(root, f"cr-{k:.0e}", graph, method="pragmatic_critic", k_cpt=k, seed=3) for k in (1e-9, 4e-9)]
    paths.append(make_run(root, "ac-dyn", graph, method="actor", k_cpt=None, dynamic=True))
    return paths


def figure_legend(fig):
    """The one legend of a figure (a figure legend beside the axes, or an axes' own)."""
    (legend,) = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return legend
