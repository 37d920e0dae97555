"""``conv2d``: 2-D convolution with 'same' (kernel clipped to the map), 'valid' or pixel padding.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"channels": 8, "kernel": 3, "stride": 1, "padding": "same"}, (TensorShape((3, 4, 4)),))
LayerFacts(out_shape=TensorShape(dims=(8, 4, 4)), ops=3456, params=216)
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import Bool, Init, NonNegInt, PosInt, Strict
from .registry import LayerKind
from .shapes import LayerFacts, TensorShape, conv_geometry, need_map, one_input


class Conv2dLayer(Strict):
    """2-D convolution. The kernel is clipped to the map size under 'same' padding."""

    kind: Literal["conv2d"]
    channels: PosInt = Field(description="output channels")
    kernel: PosInt = Field(3, description="square kernel size")
    stride: PosInt = Field(1, description="step between kernel positions")
    padding: Literal["same", "valid"] | NonNegInt = Field("same", description="'same', 'valid' or a pixel count")
    bias: Bool = Field(False, description="add a learned bias")
    init: Init = Field("xavier", description="weight initialisation: 'xavier' or 'zeros'")


def rule(config, in_shapes) -> LayerFacts:
    """Output (channels, H', W'); ops: one MAC per output pixel, kernel tap, input and output channel."""
    shape = need_map(one_input(in_shapes, "conv2d"), "conv2d")
    cin, cout = shape.dims[0], config["channels"]
    oh, ow, kh, kw = conv_geometry(config, shape)
    weights = kh * kw * cin * cout
    return LayerFacts(TensorShape((cout, oh, ow)), oh * ow * weights, weights + (cout if config.get("bias") else 0))


def build(layer):
    """A :class:`~routegraph.nn.layers.SameConv2d`."""
    from ..nn.layers import SameConv2d

    c = layer.config
    cin, h, w = layer.in_shapes[0].dims
    return SameConv2d(cin, c["channels"], (h, w), c["kernel"], c["stride"], c["padding"], c["bias"], c["init"])


# No kernel here: routed inference fuses conv2d (+ batchnorm) (+ relu) itself (infer/plan.py).
KINDS = (LayerKind("conv2d", Conv2dLayer, rule, build, in_router=True),)
