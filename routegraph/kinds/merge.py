"""``concat`` and ``add``: the kinds that merge several inputs.

>>> from routegraph.kinds.shapes import TensorShape
>>> concat_rule({}, (TensorShape((2, 4, 4)), TensorShape((3, 4, 4)))).out_shape
TensorShape(dims=(5, 4, 4))
>>> add_rule({}, (TensorShape((4,)), TensorShape((4,)))).out_shape
TensorShape(dims=(4,))
"""
from __future__ import annotations

from typing import Literal

from .fields import Strict
from .registry import LayerKind
from .shapes import LayerFacts, PyramidShape, ShapeProblem, TensorShape


class ConcatLayer(Strict):
    """Concatenates inputs along channels (maps of equal size) or features."""

    kind: Literal["concat"]


class AddLayer(Strict):
    """Element-wise sum of inputs of equal shape."""

    kind: Literal["add"]


def concat_rule(config, in_shapes) -> LayerFacts:
    """Channels (or features) summed; every other axis equal; zero ops."""
    if any(isinstance(s, PyramidShape) for s in in_shapes):
        raise ShapeProblem("concat takes tensors, not pyramids", "select_scale first")
    first = in_shapes[0]
    if len(first.dims) not in (1, 3) or any(len(s.dims) != len(first.dims) or s.dims[1:] != first.dims[1:]
                                            for s in in_shapes):
        shapes = ", ".join(map(str, in_shapes))
        raise ShapeProblem(f"concat inputs must agree on every axis but channels, got {shapes}", "equal H x W, or flat vectors")
    return LayerFacts(TensorShape((sum(s.dims[0] for s in in_shapes),) + first.dims[1:]), 0, 0)


def add_rule(config, in_shapes) -> LayerFacts:
    """Equal shapes in, the same shape out; zero ops."""
    if len(set(in_shapes)) != 1:
        raise ShapeProblem("add inputs must have equal shapes, got " + ", ".join(map(str, in_shapes)), "equal shapes")
    return LayerFacts(in_shapes[0], 0, 0)


def add(*xs):
    """The sum of the inputs, left to right."""
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def build_concat(layer):
    import torch

    from ..nn.layers import Lambda

    return Lambda(lambda *xs: torch.cat(xs, dim=1), "concat")


def build_add(layer):
    from ..nn.layers import Lambda

    return Lambda(add, "add")


KINDS = (LayerKind("concat", ConcatLayer, concat_rule, build_concat),
         LayerKind("add", AddLayer, add_rule, build_add))
