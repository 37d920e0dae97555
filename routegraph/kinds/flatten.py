"""``flatten``: a (C, H, W) map, or the coarsest level of a pyramid, as a flat vector.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({}, (TensorShape((3, 4, 4)),)).out_shape
TensorShape(dims=(48,))
"""
from __future__ import annotations

from typing import Literal

from .fields import Strict
from .registry import LayerKind
from .shapes import LayerFacts, PyramidShape, TensorShape, one_input


class FlattenLayer(Strict):
    """Flattens a (C, H, W) map, or the coarsest level of a pyramid, to a vector."""

    kind: Literal["flatten"]


def rule(config, in_shapes) -> LayerFacts:
    """(numel,); zero ops."""
    shape = one_input(in_shapes, "flatten")
    if isinstance(shape, PyramidShape):
        shape = shape.levels[-1]
    return LayerFacts(TensorShape((shape.numel,)), 0, 0)


def flatten(x):
    """``[B, ...] -> [B, numel]``; of a pyramid, its coarsest level."""
    return (x[-1] if isinstance(x, tuple) else x).flatten(1)


def build(layer):
    from ..nn.layers import Lambda

    return Lambda(flatten, "flatten")


def kernel(module, layer, options):
    return flatten if options["kernels"] else None


KINDS = (LayerKind("flatten", FlattenLayer, rule, build, kernel, in_router=True),)
