"""Property tests over random valid routed graphs: shapes, op counts, paths."""
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from routegraph.graph import compile_spec, static_baselines
from routegraph.graph.compiled import CompiledGraph, PyramidShape
from routegraph.infer import route
from routegraph.nn import build_model, module_key
from routegraph.spec.schema import Spec
from strategies_graphs import any_kind_specs, routed_specs

SETTINGS = settings(max_examples=40, deadline=None)
# The rule: every shape in the compiled graph is the shape of the tensor its module
# produces, for every layer kind and any H x W input (H != W included), and the op
# counts are the multiply-accumulates torch's FlopCounterMode sees.
ANY_KIND = st.one_of(any_kind_specs(), any_kind_specs(square=True), any_kind_specs(sequence=True))
#: The case of issue 16: a pyramid on a 32 x 3 input (its first level used to stay 32 x 3).
TALL_PYRAMID = Spec(name="tall", input={"shape": [3, 32, 3]}, nodes=[
    {"name": "p", "kind": "pyramid", "input": "image", "sizes": [32, 16, 8]},
    {"name": "m", "kind": "multiscale_conv", "input": "p", "channels": [2, 2]},
    {"name": "s", "kind": "select_scale", "input": "p", "index": 0},
    {"name": "f", "kind": "flatten", "input": "s"},
    {"name": "g", "kind": "flatten", "input": "m"},
    {"name": "j", "kind": "junction", "sinks": ["a", "b"],
     "router": {"reads": "f", "layers": [{"kind": "linear", "features": 2}]}},
    {"name": "a", "kind": "classifier", "input": "f", "classes": 2},
    {"name": "b", "kind": "classifier", "input": "g", "classes": 2},
])


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
@given(st.one_of(routed_specs(), ANY_KIND))
@example(TALL_PYRAMID)
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


def _randomized(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial routers (their last layers start at zero) and BN statistics, so that
    routing takes varied paths."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
        for router in model.routers.values():
            last = router.layers[-1]
            last.weight.copy_(torch.randn(last.weight.shape, generator=gen))
    return model.eval()


@SETTINGS
@given(ANY_KIND)
@example(TALL_PYRAMID)
def test_every_compiled_shape_is_the_produced_tensors_shape(spec):
    graph = compile_spec(spec)
    model = build_model(graph).eval()
    seen: dict[str, tuple] = {}
    hooks = []
    for node in graph.nodes:
        module = model.nodes[module_key(node.name)]
        hooks.append(module.register_forward_hook(lambda m, i, out, name=node.name: seen.__setitem__(name, _dims(out))))
    for junction in graph.junctions:
        for k, layer in enumerate(model.routers[module_key(junction.name)].layers):
            hooks.append(layer.register_forward_hook(
                lambda m, i, out, key=(junction.name, k): seen.__setitem__(key, _dims(out))))
    x = torch.randn(3, *graph.input_shape.dims)
    try:
        with torch.no_grad():
            out = model(x)
    except RuntimeError:  # a node choked on a wrong shape: the checks below name the first one
        out = None
    for hook in hooks:
        hook.remove()
    for node in graph.nodes:
        if node.name in seen:
            assert seen[node.name] == _expected(node.out_shape), (node.name, node.kind)
    for junction in graph.junctions:
        for k, layer in enumerate(junction.router):
            if (junction.name, k) in seen:
                assert seen[(junction.name, k)] == _expected(layer.out_shape), (junction.name, k, layer.kind)
    assert out is not None
    for junction in graph.junctions:
        assert out.scores[junction.name].shape == (3, len(junction.sinks))
    assert set(out.logits) == set(graph.classifiers)


@SETTINGS
@given(spec=ANY_KIND, seed=st.integers(0, 2**16), kernels=st.booleans(), channels_last=st.booleans(),
       fuse=st.sampled_from(["cat", "add", None]))
@example(spec=TALL_PYRAMID, seed=0, kernels=True, channels_last=True, fuse="cat")
@example(spec=TALL_PYRAMID, seed=0, kernels=False, channels_last=False, fuse=None)
def test_routed_inference_agrees_with_the_dense_network(spec, seed, kernels, channels_last, fuse):
    graph = compile_spec(spec)
    model = _randomized(build_model(graph), seed)
    x = torch.randn(6, *graph.input_shape.dims, generator=torch.Generator().manual_seed(seed))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = route(model, x, kernels=kernels, channels_last=channels_last, fuse_multiscale=fuse)
    path_ops = torch.tensor([p.ops for p in graph.paths])
    assert torch.equal(out.ops, path_ops[out.exit])
    assert counter.get_total_flops() / 2 == out.total_ops
    with torch.no_grad():
        dense = model(x)
    for i, name in enumerate(out.exit_names):
        assert torch.allclose(out.logits[i], dense.logits[name][i], atol=1e-4, rtol=1e-4), name
