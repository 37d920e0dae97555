"""``concat`` and ``add``: the kinds that merge several inputs.

>>> from routegraph.kinds.shapes import TensorShape
>>> concat_rule({}, (TensorShape((2, 4, 4)), TensorShape((3, 4, 4)))).out_shape
TensorShape(dims=(5, 4, 4))
>>> concat_rule({}, (TensorShape((16, 8)), TensorShape((16, 4)))).out_shape  # per token
TensorShape(dims=(16, 12))
>>> add_rule({}, (TensorShape((4,)), TensorShape((4,)))).out_shape
TensorShape(dims=(4,))
"""
from __future__ import annotations

from typing import Literal

from .fields import Strict
from .registry import LayerKind
from .shapes import LayerFacts, PyramidShape, ShapeProblem, TensorShape


class ConcatLayer(Strict):
    """Concatenates inputs along channels (maps of equal size), features (vectors) or each token's
    features (sequences of equal length)."""

    kind: Literal["concat"]


class AddLayer(Strict):
    """Element-wise sum of inputs of equal shape."""

    kind: Literal["add"]


def concat_axis(rank: int) -> int:
    """The axis (of one example's tensor) concat joins: channels of a (C, H, W) map, features of
    an (F,) vector, each token's features of a (T, D) sequence (the tokens stay aligned).

    >>> concat_axis(3), concat_axis(2), concat_axis(1)
    (0, 1, 0)
    """
    return 1 if rank == 2 else 0


def concat_rule(config, in_shapes) -> LayerFacts:
    """The joined axis summed (:func:`concat_axis`); every other axis equal; zero ops."""
    if any(isinstance(s, PyramidShape) for s in in_shapes):
        raise ShapeProblem("concat takes tensors, not pyramids", "select_scale first")
    first = in_shapes[0]
    rank = len(first.dims)
    axis = concat_axis(rank)

    def rest(s):
        return s.dims[:axis] + s.dims[axis + 1:]

    if rank not in (1, 2, 3) or any(len(s.dims) != rank or rest(s) != rest(first) for s in in_shapes):
        shapes = ", ".join(map(str, in_shapes))
        raise ShapeProblem(f"concat inputs must agree on every axis but the one joined, got {shapes}",
                           "maps of equal H x W, flat vectors, or sequences of equal length T")
    dims = list(first.dims)
    dims[axis] = sum(s.dims[axis] for s in in_shapes)
    return LayerFacts(TensorShape(tuple(dims)), 0, 0)


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

    dim = 1 + concat_axis(len(layer.out_shape.dims))  # + the batch axis
    return Lambda(lambda *xs: torch.cat(xs, dim=dim), "concat")


def build_add(layer):
    from ..nn.layers import Lambda

    return Lambda(add, "add")


KINDS = (LayerKind("concat", ConcatLayer, concat_rule, build_concat),
         LayerKind("add", AddLayer, add_rule, build_add))
