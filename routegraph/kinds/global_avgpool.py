"""``global_avgpool``: the mean over a map's positions or a sequence's tokens.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({}, (TensorShape((8, 4, 6)),)).out_shape, rule({}, (TensorShape((16, 32)),)).out_shape
(TensorShape(dims=(8,)), TensorShape(dims=(32,)))
"""
from __future__ import annotations

from typing import Literal

from .fields import Strict
from .registry import LayerKind
from .shapes import LayerFacts, ShapeProblem, TensorShape, one_input


class GlobalAvgPoolLayer(Strict):
    """Global average pooling: (C, H, W) -> (C,) over H and W, (T, D) -> (D,) over the tokens."""

    kind: Literal["global_avgpool"]


def rule(config, in_shapes) -> LayerFacts:
    """The leading axis kept, the others averaged; zero ops (pooling), no parameters."""
    shape = one_input(in_shapes, "global_avgpool")
    if not isinstance(shape, TensorShape) or len(shape.dims) not in (2, 3):
        raise ShapeProblem(f"global_avgpool needs a (C, H, W) map or a (T, D) sequence, got {shape}",
                           "[C, H, W] or [T, D] (select_scale first for a pyramid)")
    return LayerFacts(TensorShape((shape.dims[-1] if len(shape.dims) == 2 else shape.dims[0],)), 0, 0)


def map_mean(x):
    """``[B, C, H, W] -> [B, C]``."""
    return x.mean(dim=(2, 3))


def token_mean(x):
    """``[B, T, D] -> [B, D]``."""
    return x.mean(dim=1)


def _fn(layer):
    return token_mean if len(layer.in_shapes[0].dims) == 2 else map_mean


def build(layer):
    from ..nn.layers import Lambda

    return Lambda(_fn(layer), "global average pool")


def kernel(module, layer, options):
    return _fn(layer) if options["kernels"] else None


KINDS = (LayerKind("global_avgpool", GlobalAvgPoolLayer, rule, build, kernel, in_router=True),)
