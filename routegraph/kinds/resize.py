"""``resize``: parameter-free bilinear resize to ``size`` x ``size`` pixels.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"size": 8}, (TensorShape((3, 32, 32)),)).out_shape
TensorShape(dims=(3, 8, 8))
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import Bool, PosInt, Strict
from .registry import LayerKind
from .shapes import LayerFacts, TensorShape, need_map, one_input


class ResizeLayer(Strict):
    """Parameter-free bilinear resize to ``size`` x ``size`` pixels."""

    kind: Literal["resize"]
    size: PosInt = Field(description="output height and width in pixels")
    antialias: Bool = Field(False, description="antialias when shrinking")


def rule(config, in_shapes) -> LayerFacts:
    """(C, size, size); zero ops."""
    c = need_map(one_input(in_shapes, "resize"), "resize").dims[0]
    return LayerFacts(TensorShape((c, config["size"], config["size"])), 0, 0)


def build(layer):
    import torch.nn.functional as F

    from ..nn.layers import Lambda

    size, antialias = layer.config["size"], layer.config["antialias"]
    return Lambda(lambda x: F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                          antialias=antialias), f"bilinear to {size}x{size}")


KINDS = (LayerKind("resize", ResizeLayer, rule, build),)
