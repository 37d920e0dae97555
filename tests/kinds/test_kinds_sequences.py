"""Every kind on every tensor rank: a rule either accepts the shape, and then the built module
produces exactly that shape with the counted params and ops (FlopCounterMode MACs), or refuses it
with a ShapeProblem that names the kind and the shape (never another exception).

Which kind takes which rank is the table in docs/spec.md ("Sequences" and each kind's section),
written out here as ACCEPTS."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from routegraph.kinds import PyramidShape, ShapeProblem, TensorShape, get_kind, kind_names

F, TD, CHW = TensorShape((12,)), TensorShape((6, 8)), TensorShape((3, 8, 6))
PYRAMID = PyramidShape((TensorShape((3, 8, 8)), TensorShape((3, 4, 4))))
SHAPES = {"[F]": F, "[T, D]": TD, "[C, H, W]": CHW, "pyramid": PYRAMID}

# kind -> the fields of a sample node (validated through the kind's own model)
SAMPLES = {
    "conv2d": {"channels": 4}, "linear": {"features": 5}, "batchnorm": {}, "relu": {}, "maxpool": {},
    "resize": {"size": 4}, "pyramid": {"sizes": [8, 4]}, "multiscale_conv": {"channels": [4]},
    "select_scale": {}, "flatten": {}, "concat": {}, "add": {}, "classifier": {"classes": 3},
    "module": {"target": "torch.nn:Tanh"}, "layernorm": {}, "gelu": {"approximate": "tanh"},
    "global_avgpool": {}, "dropout": {"p": 0.2},
}
TWO_INPUTS = {"concat", "add"}
ACCEPTS = {
    "[F]": {"linear", "batchnorm", "relu", "flatten", "concat", "add", "classifier", "module", "layernorm",
            "gelu", "dropout"},
    "[T, D]": {"linear", "relu", "flatten", "concat", "add", "module", "layernorm", "gelu", "global_avgpool",
               "dropout"},
    "[C, H, W]": {"conv2d", "batchnorm", "relu", "maxpool", "resize", "pyramid", "flatten", "concat", "add",
                  "module", "gelu", "global_avgpool", "dropout"},
}
BUILTIN = sorted(SAMPLES)


def test_samples_cover_the_builtin_kinds():
    assert set(BUILTIN) <= set(kind_names())
    from routegraph.kinds.registry import BUILTIN_MODULES  # every built-in module's kinds have a sample
    import importlib

    declared = {k.name for m in BUILTIN_MODULES for k in importlib.import_module(f"routegraph.kinds.{m}").KINDS}
    assert declared == set(SAMPLES)


def _config(name: str) -> dict:
    kind = get_kind(name)
    extra = {"name": "n", "input": "x"} if kind.node_only else {}
    dumped = kind.config(kind=name, **extra, **SAMPLES[name]).model_dump()
    return {k: v for k, v in dumped.items() if k not in ("kind", "name", "input")}


def _facts(name: str, shape):
    config = _config(name)
    in_shapes = (shape, shape) if name in TWO_INPUTS else (shape,)
    return config, in_shapes, get_kind(name).rule(config, in_shapes)


@pytest.mark.parametrize("rank", list(SHAPES))
@pytest.mark.parametrize("name", BUILTIN)
def test_a_rank_is_accepted_or_refused_clearly(name, rank):
    shape = SHAPES[rank]
    try:
        _, _, facts = _facts(name, shape)
    except ShapeProblem as problem:
        assert rank == "pyramid" or name not in ACCEPTS[rank], f"{name} refuses {rank}: {problem.message}"
        assert name in problem.message or name in ("concat", "add", "module"), problem.message
        assert str(shape) in problem.message or rank == "pyramid" and "pyramid" in problem.message, problem.message
        assert problem.allowed, "the refusal says what is allowed"
        return
    assert rank == "pyramid" or name in ACCEPTS[rank], f"{name} unexpectedly accepts {rank}"
    assert facts.ops >= 0 and facts.params >= 0


@pytest.mark.parametrize("rank", ["[F]", "[T, D]", "[C, H, W]"])
@pytest.mark.parametrize("name", BUILTIN)
def test_an_accepted_rank_builds_the_counted_module(name, rank):
    """The module's output shape, parameter count and FlopCounterMode MACs are the rule's."""
    if name not in ACCEPTS[rank]:
        pytest.skip(f"{name} refuses {rank}")
    config, in_shapes, facts = _facts(name, SHAPES[rank])
    if isinstance(facts.out_shape, PyramidShape):
        pytest.skip("pyramids are checked by tests/nn/test_nn_layers.py")
    layer = SimpleNamespace(kind=name, config=config, in_shapes=in_shapes, out_shape=facts.out_shape,
                            loc=SimpleNamespace(path="", file=None, line=None, col=None))
    module = get_kind(name).builder()(layer).eval()
    batch = 3
    xs = [torch.randn(batch, *s.dims) for s in in_shapes]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = module(*xs)
    assert tuple(out.shape) == (batch, *facts.out_shape.dims)
    assert sum(p.numel() for p in module.parameters()) == facts.params
    assert counter.get_total_flops() == 2 * batch * facts.ops


def test_linear_on_a_sequence_acts_per_token():
    config, _, facts = _facts("linear", TD)
    assert facts.out_shape == TensorShape((6, 5)) and facts.ops == 6 * 8 * 5 and facts.params == 8 * 5 + 5
    layer = SimpleNamespace(config=config, in_shapes=(TD,))
    module = get_kind("linear").builder()(layer)
    x = torch.randn(2, 6, 8)
    torch.testing.assert_close(module(x)[:, 3], module(x[:, 3]))  # token 3 alone gives the same


def test_concat_of_sequences_joins_each_tokens_features():
    facts = get_kind("concat").rule({}, (TensorShape((6, 8)), TensorShape((6, 3))))
    assert facts.out_shape == TensorShape((6, 11))
    with pytest.raises(ShapeProblem, match="agree on every axis but the one joined"):
        get_kind("concat").rule({}, (TensorShape((6, 8)), TensorShape((5, 8))))


@pytest.mark.parametrize("name, shape, needs", [
    ("layernorm", CHW, "allowed: [F] or [T, D]"), ("conv2d", TD, "needs a (C, H, W) map"),
    ("batchnorm", TD, "layernorm"), ("classifier", TD, "flatten"), ("global_avgpool", F, "[C, H, W] or [T, D]"),
])
def test_refusals_say_what_to_do(name, shape, needs):
    with pytest.raises(ShapeProblem) as info:
        _facts(name, shape)
    assert needs.removeprefix("allowed: ") in info.value.message + " " + info.value.allowed


def test_layernorm_params_without_affine():
    assert get_kind("layernorm").rule({"elementwise_affine": False}, (TD,)).params == 0
    assert get_kind("layernorm").rule({"elementwise_affine": True}, (TD,)).params == 2 * 8
