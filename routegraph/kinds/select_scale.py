"""``select_scale``: one level of a pyramid (default: the coarsest, -1).

>>> from routegraph.kinds.shapes import PyramidShape, TensorShape
>>> rule({"index": 0}, (PyramidShape((TensorShape((3, 8, 8)), TensorShape((3, 4, 4)))),)).out_shape
TensorShape(dims=(3, 8, 8))
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import Int, Strict
from .registry import LayerKind
from .shapes import LayerFacts, ShapeProblem, need_pyramid, one_input


class SelectScaleLayer(Strict):
    """Takes one level of a pyramid (default: the coarsest, -1)."""

    kind: Literal["select_scale"]
    index: Int = Field(-1, description="pyramid level, Python-style (0 finest, -1 coarsest)")


def rule(config, in_shapes) -> LayerFacts:
    """The level's shape; zero ops."""
    pyramid = need_pyramid(one_input(in_shapes, "select_scale"), "select_scale")
    n, index = len(pyramid.levels), config["index"]
    if not -n <= index < n:
        raise ShapeProblem(f"index {index} is out of range for a pyramid of {n} levels", f"{-n} .. {n - 1}")
    return LayerFacts(pyramid.levels[index], 0, 0)


def build(layer):
    from ..nn.layers import Lambda

    index = layer.config["index"]
    return Lambda(lambda x: x[index], f"scale {index}")


KINDS = (LayerKind("select_scale", SelectScaleLayer, rule, build, in_router=True),)
