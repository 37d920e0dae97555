"""Compile a validated :class:`~routegraph.spec.schema.Spec` into a :class:`CompiledGraph`.

Steps, each reporting every problem it finds as a located ``SpecError``:

1. references resolve (with "did you mean"), names are unique;
2. the graph (networkx) is acyclic and every node is reachable from the input;
3. shapes, ops and parameter counts, in topological order;
4. routing: regions, well-formed conditions, one junction or one classifier
   ending each region, router widths; every leaf is a classifier;
5. the path table.

>>> from routegraph import load_spec, compile_spec
>>> graph = compile_spec(load_spec("specs/chain_8layer.yaml"))  # (run from the repository root)
>>> graph.paths[-1].ops  # the deepest path's multiply-accumulates, routers included
20643552
"""
from __future__ import annotations

from typing import Any

import networkx as nx

from ..checks import POSITIVE
from ..errors import Problem, SpecError, unknown_problem
from ..imports import granted
from ..k_cpt import K_CPT_INPUT_SCALE
from .compiled import (
    CompiledGraph, CompiledJunction, CompiledLayer, CompiledNode, SourceLoc, TensorShape,
)
from ..kinds.registry import get_kind
from ..kinds.shapes import ShapeProblem
from .regions import build_regions


def compile_spec(spec, *, k_cpt_input: bool = False, k_cpt_scale: float = K_CPT_INPUT_SCALE) -> CompiledGraph:
    """Validate ``spec`` as a graph and compute shapes, costs, regions and paths.

    ``k_cpt_input`` makes every router read ``k_cpt_scale * k_cpt`` (default
    1e7, the reference's; see :mod:`routegraph.k_cpt`) as one extra input
    feature (the dynamic-k_cpt networks of the paper), appended before the
    router's first linear layer.
    """
    POSITIVE.check(k_cpt_scale, "k_cpt_scale")
    return _Compiler(spec, k_cpt_input, float(k_cpt_scale)).run()


class _Compiler:
    def __init__(self, spec, k_cpt_input: bool, k_cpt_scale: float = K_CPT_INPUT_SCALE):
        self.spec, self.k_cpt_input, self.k_cpt_scale = spec, k_cpt_input, k_cpt_scale
        self.problems: list[Problem] = []
        self.index = {node.name: i for i, node in enumerate(spec.nodes)}
        self.specs = {node.name: node for node in spec.nodes}

    # -- helpers -------------------------------------------------------
    def where(self, name: str, suffix: str = "") -> dict:
        if name == self.spec.input.name:
            return self.spec.where("input.name")
        return self.spec.where(f"nodes.{self.index[name]}" + (f".{suffix}" if suffix else ""))

    def problem(self, name: str, suffix: str, message: str, allowed: str = "") -> None:
        self.problems.append(Problem(message, allowed=allowed, **self.where(name, suffix)))

    def check(self) -> None:
        if self.problems:
            raise SpecError(sorted(self.problems, key=lambda p: (p.line, p.col)))

    def inputs_of(self, node) -> list[str]:
        if node.kind == "junction":
            return []
        return [node.input] if isinstance(node.input, str) else list(node.input)

    # -- passes --------------------------------------------------------
    def run(self) -> CompiledGraph:
        self.check_names()
        self.check()
        graph = self.build_graph()
        self.check()
        order = self.topological_order(graph)
        self.check()
        with granted(self.spec.allow_import):  # what module nodes may import
            facts = self.infer_shapes(order)
        self.check()
        regions, node_region, junction_region, sink_regions = build_regions(self, order)
        self.check()
        return self.assemble(order, facts, regions, node_region, junction_region, sink_regions)

    def check_names(self) -> None:
        input_name = self.spec.input.name
        known = set(self.specs) | {input_name}
        if input_name in self.specs:
            self.problem(input_name, "name", f"name {input_name!r} is already the input's name", "unique names")
        junctions = {n.name for n in self.spec.nodes if n.kind == "junction"}
        tensors = known - junctions
        sink_of: dict[str, str] = {}
        for node in self.spec.nodes:
            for k, ref in enumerate(self.inputs_of(node)):
                suffix = "input" if isinstance(node.input, str) else f"input.{k}"
                self.check_ref(node.name, suffix, ref, tensors, junctions)
            if node.kind != "junction":
                continue
            self.check_ref(node.name, "router.reads", node.router.reads, tensors, junctions)
            if node.router.layers is None:
                self.problem(node.name, "router", "router has no layers", "give 'layers' or a 'block'")
            for i, sink in enumerate(node.sinks):
                if sink not in self.specs or sink in junctions:
                    if sink == input_name or sink in junctions:
                        self.problem(node.name, f"sinks.{i}", f"sink {sink!r} must be a layer or classifier node", "node names")
                    else:
                        self.problems.append(unknown_problem("sink", sink, tensors - {input_name}, **self.where(node.name, f"sinks.{i}")))
                elif sink in sink_of:
                    self.problem(node.name, f"sinks.{i}", f"{sink!r} is already a sink of junction {sink_of[sink]!r}", "each node is a sink of at most one junction")
                else:
                    sink_of[sink] = node.name
            if len(set(node.sinks)) != len(node.sinks):
                self.problem(node.name, "sinks", "a junction lists the same sink twice", "distinct sinks")
        self.sink_of = sink_of

    def check_ref(self, owner: str, suffix: str, ref: str, tensors: set, junctions: set) -> None:
        if ref in junctions:
            self.problem(owner, suffix, f"{ref!r} is a junction, which carries no tensor", "read the layer before it, or one of its sinks")
        elif ref not in tensors:
            self.problems.append(unknown_problem("node", ref, tensors, **self.where(owner, suffix)))

    def build_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        input_name = self.spec.input.name
        graph.add_node(input_name)
        graph.add_nodes_from(self.specs)
        for node in self.spec.nodes:
            for ref in self.inputs_of(node):
                graph.add_edge(ref, node.name)
            if node.kind == "junction":
                graph.add_edge(node.router.reads, node.name)
                for sink in node.sinks:
                    graph.add_edge(node.name, sink)
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            names = [u for u, _ in cycle] + [cycle[0][0]]
            self.problem(cycle[0][1], "", "the graph has a cycle: " + " -> ".join(names), "an acyclic graph")
            return graph
        reachable = nx.descendants(graph, input_name) | {input_name}
        for name in self.specs:
            if name not in reachable:
                self.problem(name, "", f"node {name!r} is not reachable from the input {input_name!r}", "every node must depend on the input")
        self.nx_graph = graph
        return graph

    def topological_order(self, graph: nx.DiGraph) -> list[str]:
        position = {name: i for i, name in enumerate(self.specs)}
        order = list(nx.lexicographical_topological_sort(graph, key=lambda n: position.get(n, -1)))
        return [n for n in order if n != self.spec.input.name]

    def infer_shapes(self, order: list[str]) -> dict[str, Any]:
        shapes: dict[str, Any] = {self.spec.input.name: TensorShape(tuple(self.spec.input.shape))}
        facts: dict[str, Any] = {}
        for name in order:
            node = self.specs[name]
            if node.kind == "junction":
                facts[name] = self.router_facts(node, shapes.get(node.router.reads))
                continue
            refs = self.inputs_of(node)
            if any(ref not in shapes for ref in refs):
                continue  # an earlier problem already explains it
            in_shapes = tuple(shapes[r] for r in refs)
            config = _config(node)
            try:
                result = get_kind(node.kind).rule(config, in_shapes)
            except ShapeProblem as exc:
                if exc.at:  # a field of the node, not its input's shape
                    self.problem(name, exc.at, exc.message, exc.allowed)
                    continue
                sources = ", ".join(f"{r!r} gives {shapes[r]}" for r in refs)
                self.problem(name, "input", f"shape mismatch at {name!r} ({node.kind}): {exc.message}; {sources}", exc.allowed)
                continue
            shapes[name] = result.out_shape
            facts[name] = (config, in_shapes, result)
        return facts

    def router_facts(self, node, shape):
        if shape is None or node.router.layers is None:
            return None
        layers, current = [], shape
        n_layers = len(node.router.layers)
        extra = 1 if self.k_cpt_input else 0
        for k, layer in enumerate(node.router.layers):
            config = _config(layer)
            if k == n_layers - 1:
                config["init"] = "zeros"  # reference: the last router layer starts at zero
            in_shape = current
            if layer.kind == "linear" and extra and isinstance(current, TensorShape) and len(current.dims) == 1:
                in_shape, extra = TensorShape((current.dims[0] + 1,)), 0
            try:
                result = get_kind(layer.kind).rule(config, (in_shape,))
            except ShapeProblem as exc:
                self.problem(node.name, f"router.layers.{k}", f"router of {node.name!r}, layer {k} ({layer.kind}): {exc.message}; it reads {node.router.reads!r} ({shape})", exc.allowed)
                return None
            layers.append(CompiledLayer(layer.kind, config, (in_shape,), result.out_shape, result.ops, result.params))
            current = result.out_shape
        last = node.router.layers[-1]
        n = len(node.sinks)
        if last.kind != "linear":
            self.problem(node.name, f"router.layers.{n_layers - 1}", f"the router of {node.name!r} must end with a linear layer, not {last.kind}", f"linear with features: {n}")
        elif len(current.dims) != 1:
            self.problem(node.name, f"router.layers.{n_layers - 1}", f"the router of {node.name!r} outputs "
                         f"{current} scores per example, not one vector", "a router that flattens or pools first")
        elif current.dims != (n,):
            self.problem(node.name, f"router.layers.{n_layers - 1}.features",
                         f"the router of {node.name!r} outputs {current.dims[0]} scores but the junction has {n} sinks",
                         f"features: {n}, one score per sink")
        return (shape, tuple(layers))

    def assemble(self, order, facts, regions, node_region, junction_region, sink_regions) -> CompiledGraph:
        nodes, junctions = [], []
        for name in order:
            node = self.specs[name]
            loc = SourceLoc(**self.where(name))
            if node.kind == "junction":
                router_in, layers = facts[name]
                junctions.append(CompiledJunction(
                    name=name, reads=node.router.reads, sinks=tuple(node.sinks), router=layers,
                    router_in=router_in, ops=sum(l.ops for l in layers), params=sum(l.params for l in layers),
                    region=junction_region[name], sink_regions=sink_regions[name], loc=loc,
                ))
            else:
                config, in_shapes, result = facts[name]
                layer = CompiledLayer(node.kind, config, in_shapes, result.out_shape, result.ops, result.params)
                nodes.append(CompiledNode(name=name, inputs=tuple(self.inputs_of(node)), layer=layer,
                                          region=node_region[name], loc=loc))
        from .regions import build_paths

        regions, paths = build_paths(regions, nodes, junctions)
        return CompiledGraph(
            name=self.spec.name, input_name=self.spec.input.name,
            input_shape=TensorShape(tuple(self.spec.input.shape)), nodes=tuple(nodes),
            junctions=tuple(junctions), regions=regions, paths=paths, params=dict(self.spec.params),
            k_cpt_input=self.k_cpt_input, k_cpt_scale=self.k_cpt_scale, source=self.spec.file, allow_import=self.spec.allow_import,
        )


def _config(model) -> dict:
    return model.model_dump(exclude={"name", "input", "kind"}, mode="json")
