"""``pyramid``: an image pyramid by bilinear resizing, finest level first.

>>> from routegraph.kinds.shapes import TensorShape
>>> str(rule({"sizes": [8, 4]}, (TensorShape((3, 8, 8)),)).out_shape)
'[3x8x8, 3x4x4]'
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .fields import Bool, PosInt, Strict
from .registry import LayerKind
from .shapes import LayerFacts, PyramidShape, ShapeProblem, TensorShape, need_map, one_input


class PyramidLayer(Strict):
    """Builds an image pyramid by bilinear resizing, finest first (e.g. [32, 16, 8, 4])."""

    kind: Literal["pyramid"]
    sizes: Annotated[list[PosInt], Field(min_length=1)] = Field(description="level sizes in pixels, finest first")
    antialias: Bool = Field(False, description="antialias when shrinking")


def rule(config, in_shapes) -> LayerFacts:
    """One (C, s, s) level per size; zero ops."""
    c = need_map(one_input(in_shapes, "pyramid"), "pyramid").dims[0]
    sizes = config["sizes"]
    if list(sizes) != sorted(sizes, reverse=True) or len(set(sizes)) != len(sizes):
        raise ShapeProblem(f"pyramid sizes must strictly decrease, got {sizes}", "e.g. [32, 16, 8, 4]")
    return LayerFacts(PyramidShape(tuple(TensorShape((c, s, s)) for s in sizes)), 0, 0)


def build(layer):
    from ..nn.layers import Lambda, pyramid_levels

    sizes, antialias = layer.config["sizes"], layer.config["antialias"]
    in_hw = tuple(layer.in_shapes[0].dims[1:])
    return Lambda(lambda x: pyramid_levels(x, sizes, in_hw, antialias), f"bilinear pyramid {sizes}")


def kernel(module, layer, options):
    """The pyramid with the image converted to channels-last once, before resizing (option)."""
    from ..infer import fold

    if not options["kernels"]:
        return None
    return fold.pyramid_kernel(layer.config["sizes"], tuple(layer.in_shapes[0].dims[1:]),
                               layer.config["antialias"], options["channels_last"])


KINDS = (LayerKind("pyramid", PyramidLayer, rule, build, kernel),)
