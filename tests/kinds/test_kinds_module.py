"""The ``module`` kind (routegraph/kinds/module.py): shapes, params and ops from the meta probe
against independent oracles (the built-in kinds' rules, a real CPU forward under
FlopCounterMode), the CPU-probe fallback, and the builder."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from routegraph.graph import compile_spec
from routegraph.kinds.module import ModuleProbeWarning
from routegraph.nn import build_model, module_key
from routegraph.spec import loads_spec
from user_modules import forget, write_user_package


def graph_of(input_shape, nodes: str, **kwargs):
    text = f"name: t\ninput: {{shape: {list(input_shape)}}}\nnodes:\n{nodes}"
    return compile_spec(loads_spec(text, file="t.yaml", **kwargs))


def one_module(input_shape, target, args, **kwargs):
    nodes = (f'  - {{name: m, kind: module, input: image, target: "{target}", args: {args}}}\n'
             "  - {name: f, kind: flatten, input: m}\n  - {name: out, kind: classifier, input: f, classes: 2}\n")
    return graph_of(input_shape, nodes, **kwargs).node("m")


def test_conv_module_counts_as_the_conv2d_kind():
    """Same convention as the built-in kinds: a torch.nn Conv2d costs what conv2d does."""
    module = one_module([3, 9, 7], "torch.nn:Conv2d",
                        "{in_channels: 3, out_channels: 5, kernel_size: 3, stride: 2, padding: 1, bias: false}")
    builtin = graph_of([3, 9, 7], "  - {name: c, kind: conv2d, input: image, channels: 5, stride: 2, padding: 1}\n"
                                  "  - {name: f, kind: flatten, input: c}\n"
                                  "  - {name: out, kind: classifier, input: f, classes: 2}\n").node("c")
    assert (module.out_shape, module.ops, module.params) == (builtin.out_shape, builtin.ops, builtin.params)


def test_linear_module_counts_as_the_linear_kind_without_bias():
    node = one_module([6], "torch.nn:Linear", "{in_features: 6, out_features: 4}")
    assert node.out_shape.dims == (4,) and node.ops == 6 * 4 and node.params == 6 * 4 + 4


@pytest.mark.parametrize("target, args, shape", [
    ("torch.nn:TransformerEncoderLayer", {"d_model": 16, "nhead": 4, "dim_feedforward": 24, "batch_first": True}, (5, 16)),
    ("torch.nn:LayerNorm", {"normalized_shape": 16}, (5, 16)),
    ("torch.nn:Conv1d", {"in_channels": 4, "out_channels": 6, "kernel_size": 3}, (4, 9)),
])
def test_ops_and_params_match_a_real_cpu_forward(target, args, shape):
    """The probe (meta device, batch 2) against the module itself on real tensors (batch 3),
    counted by FlopCounterMode with attention as matmuls."""
    text = ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in args.items())
    node = one_module(list(shape), target, "{" + text + "}")
    torch.manual_seed(0)
    module = getattr(torch.nn, target.split(":")[1])(**args).eval()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            out = module(torch.randn(3, *shape))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    assert node.out_shape.dims == tuple(out.shape[1:])
    assert node.params == sum(p.numel() for p in module.parameters())
    assert 3 * node.ops == counter.get_total_flops() / 2


def test_attention_matmuls_are_counted():
    d, t, heads, ff = 16, 5, 4, 24
    node = one_module([t, d], "torch.nn:TransformerEncoderLayer",
                      f"{{d_model: {d}, nhead: {heads}, dim_feedforward: {ff}, batch_first: true}}")
    projections = t * d * 3 * d + t * d * d  # in_proj (q, k, v) and out_proj
    attention = 2 * t * t * d  # Q K^T and (.) V over all heads
    feedforward = 2 * t * d * ff
    assert node.ops == projections + attention + feedforward


def test_the_probe_runs_on_the_meta_device():
    """4e10 parameters (160 GB as float32) compile at once: nothing is allocated."""
    node = one_module([200_000], "torch.nn:Linear", "{in_features: 200000, out_features: 200000, bias: false}")
    assert node.ops == node.params == 200_000 ** 2


@pytest.fixture
def user(tmp_path, monkeypatch, request):
    name = "rg_kind_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    module = write_user_package(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, module
    forget(name)


def test_a_module_that_fails_on_meta_gets_a_cpu_probe_and_says_so(user):
    name, module = user
    with pytest.warns(ModuleProbeWarning, match=r"cannot run on the meta device \(.*item.*\).*CPU probe"):
        node = one_module([6], f"{module}:NotOnMeta", "{features: 6, out_features: 3}", allow_import=[name])
    assert node.out_shape.dims == (3,) and node.ops == 18 and node.params == 21
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a module that runs on meta: no warning
        one_module([3, 8, 8], f"{module}:ConvRelu", "{channels: 3, out_channels: 4}", allow_import=[name])


def test_the_builder_returns_the_users_module(user):
    name, module = user
    nodes = (f'  - {{name: stem, kind: module, input: image, target: "{module}:make_stem", args: {{width: 4}}}}\n'
             f'  - {{name: block, kind: module, input: stem, target: "{module}:ConvRelu", '
             "args: {channels: 4, out_channels: 6}}\n"
             "  - {name: f, kind: flatten, input: block}\n  - {name: out, kind: classifier, input: f, classes: 2}\n")
    graph = graph_of([3, 10, 6], nodes, allow_import=[name])
    assert graph.node("stem").out_shape.dims == (4, 5, 3) and graph.node("block").out_shape.dims == (6, 5, 3)
    assert graph.node("block").ops == 5 * 3 * 9 * 4 * 6
    model = build_model(graph)
    block = model.nodes[module_key("block")]
    assert type(block).__name__ == "ConvRelu" and type(block).__module__ == module
    assert sum(p.numel() for p in model.parameters()) == graph.total_params
    assert model(torch.rand(2, 3, 10, 6)).logits["out"].shape == (2, 2)


def test_a_huge_module_that_fails_on_meta_is_not_built_on_the_cpu():
    """The wrong input for 4e10 parameters: the meta error is reported, nothing is allocated."""
    from routegraph.errors import SpecError

    with pytest.raises(SpecError) as info:
        one_module([5], "torch.nn:Linear", "{in_features: 200000, out_features: 200000}")
    (problem,) = info.value.problems
    assert problem.path == "nodes.0.input" and "the module fails on an input of 5" in problem.message
