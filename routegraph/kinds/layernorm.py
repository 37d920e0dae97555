"""``layernorm``: layer normalization over the last dimension (features, or each token's features).

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"elementwise_affine": True}, (TensorShape((16, 32)),))
LayerFacts(out_shape=TensorShape(dims=(16, 32)), ops=0, params=64)
>>> rule({}, (TensorShape((3, 8, 8)),))
Traceback (most recent call last):
routegraph.errors.ShapeProblem: layernorm normalizes a vector (F,) or each token of a sequence (T, D), got 3x8x8
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import Bool, Strict, spec_float
from .registry import LayerKind
from .shapes import LayerFacts, ShapeProblem, TensorShape, one_input


class LayerNormLayer(Strict):
    """Layer normalization over the last dimension: a vector's features, or each token's."""

    kind: Literal["layernorm"]
    eps: spec_float(gt=0) = Field(1e-5, description="added to the variance")
    elementwise_affine: Bool = Field(True, description="learn a scale and a shift per feature")


def rule(config, in_shapes) -> LayerFacts:
    """Same shape out; zero ops (a normalization, like batchnorm); 2 x D parameters with the affine."""
    shape = one_input(in_shapes, "layernorm")
    # A (C, H, W) map has no single "last dimension" worth normalising (W alone is meaningless):
    # refuse it rather than guess; a module node (torch.nn:GroupNorm) covers maps.
    if not isinstance(shape, TensorShape) or len(shape.dims) not in (1, 2):
        raise ShapeProblem(f"layernorm normalizes a vector (F,) or each token of a sequence (T, D), got {shape}",
                           "[F] or [T, D]; for maps a module node such as torch.nn:GroupNorm")
    return LayerFacts(shape, 0, 2 * shape.dims[-1] if config["elementwise_affine"] else 0)


def build(layer):
    """An ``nn.LayerNorm`` over the last dimension."""
    from torch import nn

    c = layer.config
    return nn.LayerNorm(layer.in_shapes[0].dims[-1], eps=c["eps"],
                        elementwise_affine=c["elementwise_affine"])


def kernel(module, layer, options):
    """``F.layer_norm`` with the module's weights, as a plain callable."""
    import torch.nn.functional as F

    if not options["kernels"]:
        return None
    shape, weight, bias, eps = module.normalized_shape, module.weight, module.bias, module.eps
    return lambda x: F.layer_norm(x, shape, weight, bias, eps)


KINDS = (LayerKind("layernorm", LayerNormLayer, rule, build, kernel, in_router=True),)
