"""Property tests over random valid routed graphs: shapes, op counts, paths."""
import torch
from hypothesis import given, settings
from torch.utils.flop_counter import FlopCounterMode

from routegraph.graph import compile_spec, static_baselines
from routegraph.graph.compiled import CompiledGraph, PyramidShape
from routegraph.nn import build_model, module_key
from strategies_graphs import routed_specs

SETTINGS = settings(max_examples=40, deadline=None)


def _dims(value):
    if isinstance(value, tuple):
        return tuple(tuple(v.shape[1:]) for v in value)
    return tuple(value.shape[1:])


def _expected(shape):
    if isinstance(shape, PyramidShape):
        return tuple(level.dims for level in shape.levels)
    return shape.dims


def run_path_only(model, classifier: str, x: torch.Tensor):
    """Run just the nodes and routers on one classifier's path."""
    graph = model.graph
    path = graph.path(classifier)
    values = {graph.input_name: x}
    for name in path.nodes:
        node = graph.node(name)
        values[name] = model.nodes[module_key(name)](*(values[i] for i in node.inputs))
    for name in path.junctions:
        junction = graph.junction(name)
        model.routers[module_key(name)](values[junction.reads])
    return values[classifier]


@SETTINGS
@given(routed_specs())
def test_inferred_shapes_equal_forward_shapes(spec):
    graph = compile_spec(spec)
    model = build_model(graph).eval()
    x = torch.randn(3, *graph.input_shape.dims)
    values = {graph.input_name: x}
    for node in graph.nodes:
        values[node.name] = model.nodes[module_key(node.name)](*(values[i] for i in node.inputs))
        assert _dims(values[node.name]) == _expected(node.out_shape), node.name
    out = model(x)
    for junction in graph.junctions:
        assert out.scores[junction.name].shape == (3, len(junction.sinks))
    assert set(out.logits) == set(graph.classifiers)


@SETTINGS
@given(routed_specs())
def test_path_ops_are_sums_of_node_and_router_ops(spec):
    graph = compile_spec(spec)
    for path in graph.paths:
        expected = sum(graph.node(n).ops for n in path.nodes) + sum(graph.junction(j).ops for j in path.junctions)
        assert path.ops == expected
        assert path.ops == sum(graph.regions[r].ops for r in path.regions)
    assert sum(r.ops for r in graph.regions) == graph.total_ops
    assert graph.regions[0].leaves == len(graph.paths)


@SETTINGS
@given(routed_specs())
def test_path_ops_equal_torch_flop_counter(spec):
    graph = compile_spec(spec)
    model = build_model(graph).eval()
    x = torch.randn(2, *graph.input_shape.dims)
    for path in graph.paths:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            run_path_only(model, path.classifier, x)
        assert counter.get_total_flops() / 2 == 2 * path.ops, path.classifier  # 2 examples


@SETTINGS
@given(routed_specs())
def test_json_round_trip_and_static_baselines(spec):
    graph = compile_spec(spec)
    import json

    assert CompiledGraph.from_json(json.loads(graph.dumps())) == graph
    for classifier, static in static_baselines(graph).items():
        assert static.junctions == () and static.classifiers == (classifier,)
        routed_path = graph.path(classifier)
        router_ops = sum(graph.junction(j).ops for j in routed_path.junctions)
        assert static.total_ops == routed_path.ops - router_ops
        build_model(static)(torch.randn(2, *graph.input_shape.dims))
