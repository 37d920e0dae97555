"""``maxpool``: max pooling over square windows; ``stride`` defaults to ``kernel``.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"kernel": 2}, (TensorShape((3, 5, 4)),)).out_shape
TensorShape(dims=(3, 2, 2))
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import PosInt, Strict
from .registry import LayerKind
from .shapes import LayerFacts, ShapeProblem, TensorShape, need_map, one_input


class MaxPoolLayer(Strict):
    """Max pooling; ``stride`` defaults to ``kernel``."""

    kind: Literal["maxpool"]
    kernel: PosInt = Field(2, description="square window size")
    stride: PosInt | None = Field(None, description="step between windows (default: kernel)")


def rule(config, in_shapes) -> LayerFacts:
    """Floor-mode output size; zero ops."""
    c, h, w = need_map(one_input(in_shapes, "maxpool"), "maxpool").dims
    k = config["kernel"]
    s = config.get("stride") or k
    if h < k or w < k:
        raise ShapeProblem(f"maxpool kernel {k} is larger than the {h}x{w} map", f"maps of at least {k}x{k}")
    return LayerFacts(TensorShape((c, (h - k) // s + 1, (w - k) // s + 1)), 0, 0)


def build(layer):
    from torch import nn

    k = layer.config["kernel"]
    return nn.MaxPool2d(k, layer.config.get("stride") or k)


def kernel(module, layer, options):
    """2x2/stride-2 pooling as two element-wise maxima (``fold.pool2``) when ``fast_pool``."""
    from ..infer import fold

    return fold.maxpool_kernel(module) if options["kernels"] and options["fast_pool"] else None


KINDS = (LayerKind("maxpool", MaxPoolLayer, rule, build, kernel, in_router=True),)
