"""Per-kind module checks, parametrized over every layer kind."""
import pytest
import torch

from routegraph.graph import compile_spec
from routegraph.nn import build_model, module_key
from routegraph.spec.schema import LAYER_KINDS, Spec

# kind -> (nodes between 'image' (3x8x8) and the classifier's flatten, the last tensor's name)
CASES = {
    "conv2d": ([{"name": "x", "kind": "conv2d", "input": "image", "channels": 5, "stride": 2}], "x"),
    "linear": ([{"name": "f", "kind": "flatten", "input": "image"}, {"name": "x", "kind": "linear", "input": "f", "features": 7}], "x"),
    "batchnorm": ([{"name": "x", "kind": "batchnorm", "input": "image"}], "x"),
    "relu": ([{"name": "x", "kind": "relu", "input": "image"}], "x"),
    "maxpool": ([{"name": "x", "kind": "maxpool", "input": "image"}], "x"),
    "resize": ([{"name": "x", "kind": "resize", "input": "image", "size": 5}], "x"),
    "pyramid": ([{"name": "p", "kind": "pyramid", "input": "image", "sizes": [8, 4, 2]},
                 {"name": "x", "kind": "select_scale", "input": "p", "index": 1}], "x"),
    "multiscale_conv": ([{"name": "p", "kind": "pyramid", "input": "image", "sizes": [8, 4, 2]},
                         {"name": "m", "kind": "multiscale_conv", "input": "p", "channels": [4, 6]},
                         {"name": "x", "kind": "select_scale", "input": "m"}], "x"),
    "select_scale": ([{"name": "p", "kind": "pyramid", "input": "image", "sizes": [8, 4]},
                      {"name": "x", "kind": "select_scale", "input": "p", "index": 0}], "x"),
    "flatten": ([{"name": "x", "kind": "flatten", "input": "image"}], "x"),
    "concat": ([{"name": "a", "kind": "conv2d", "input": "image", "channels": 2},
                {"name": "x", "kind": "concat", "input": ["a", "image"]}], "x"),
    "add": ([{"name": "a", "kind": "conv2d", "input": "image", "channels": 3},
             {"name": "x", "kind": "add", "input": ["a", "image"]}], "x"),
    "layernorm": ([{"name": "f", "kind": "flatten", "input": "image"},
                   {"name": "x", "kind": "layernorm", "input": "f", "eps": 1e-3}], "x"),
    "gelu": ([{"name": "x", "kind": "gelu", "input": "image", "approximate": "tanh"}], "x"),
    "global_avgpool": ([{"name": "x", "kind": "global_avgpool", "input": "image"}], "x"),
    "dropout": ([{"name": "x", "kind": "dropout", "input": "image", "p": 0.25}], "x"),
    "module": ([{"name": "x", "kind": "module", "input": "image", "target": "torch.nn:Conv2d",
                 "args": {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2}}], "x"),
}


def test_cases_cover_every_kind():
    assert set(CASES) == set(LAYER_KINDS)


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_kind_builds_and_matches_inferred_shape(kind):
    nodes, last = CASES[kind]
    tail = [] if kind in ("flatten", "linear") else [{"name": "flat", "kind": "flatten", "input": last}]
    classifier_input = last if not tail else "flat"
    spec = Spec(name=kind, input={"name": "image", "shape": [3, 8, 8]},
                nodes=nodes + tail + [{"name": "out", "kind": "classifier", "input": classifier_input, "classes": 2}])
    graph = compile_spec(spec)
    model = build_model(graph)
    values = {"image": torch.rand(4, 3, 8, 8)}
    for node in graph.nodes:
        values[node.name] = model.nodes[module_key(node.name)](*(values[i] for i in node.inputs))
        value = values[node.name]
        shapes = [tuple(v.shape[1:]) for v in value] if isinstance(value, tuple) else tuple(value.shape[1:])
        expected = [lvl.dims for lvl in node.out_shape.levels] if hasattr(node.out_shape, "levels") else node.out_shape.dims
        assert shapes == expected, node.name
    assert model(values["image"]).logits["out"].shape == (4, 2)
