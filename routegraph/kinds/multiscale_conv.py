"""``multiscale_conv``: the paper's multiscale convolution over the coarsest scales of a pyramid.

>>> from routegraph.kinds.shapes import PyramidShape, TensorShape
>>> facts = rule({"channels": [4, 8], "kernel": 3}, (PyramidShape((TensorShape((3, 4, 4)), TensorShape((3, 2, 2)))),))
>>> str(facts.out_shape), facts.ops
('[4x4x4, 8x2x2]', 2624)
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .fields import PosInt, Strict, spec_float
from .registry import LayerKind
from .shapes import LayerFacts, PyramidShape, ShapeProblem, TensorShape, need_pyramid, one_input


class MultiscaleConvLayer(Strict):
    """The paper's multiscale convolution over the coarsest ``len(channels)`` input scales.

    Finest output: conv(input at that scale). Each coarser output k:
    conv(input at k) + conv(maxpool2x2(output k-1)). Then BN + ReLU per scale.
    """

    kind: Literal["multiscale_conv"]
    channels: Annotated[list[PosInt], Field(min_length=1, description="output channels per scale, finest first")]
    kernel: PosInt = Field(3, description="square kernel size of every conv (clipped to the map size)")
    eps: spec_float(gt=0) = Field(1e-6, description="batch-norm epsilon")
    momentum: spec_float(gt=0, le=1) = Field(0.1, description="batch-norm momentum (PyTorch convention)")


def multiscale_scales(config: dict, pyramid: PyramidShape) -> list[dict]:
    """Per output scale: its input level, size, channels and both convs' kernel and ops."""
    channels, k = config["channels"], config["kernel"]
    m = len(channels)
    if len(pyramid.levels) < m:
        raise ShapeProblem(
            f"multiscale_conv with {m} scales needs a pyramid of at least {m} levels, got {pyramid}",
            f"at most {len(pyramid.levels)} entries in channels",
        )
    levels = pyramid.levels[-m:]
    scales, previous = [], None
    for t, (level, cout) in enumerate(zip(levels, channels)):
        cin, h, w = level.dims
        kh, kw = min(k, h), min(k, w)
        scale = {"h": h, "w": w, "cin": cin, "cout": cout, "kh": kh, "kw": kw,
                 "lateral_ops": h * w * kh * kw * cin * cout, "vertical_ops": 0, "vertical_cin": 0}
        if t:
            ph, pw = previous["h"] // 2, previous["w"] // 2
            if (ph, pw) != (h, w):
                raise ShapeProblem(
                    f"multiscale_conv scale {t} is {h}x{w} but 2x2 max-pooling the previous scale gives {ph}x{pw}",
                    "pyramid levels that halve at each step",
                )
            scale["vertical_cin"] = previous["cout"]
            scale["vertical_ops"] = h * w * kh * kw * previous["cout"] * cout
        scales.append(scale)
        previous = scale
    return scales


def rule(config, in_shapes) -> LayerFacts:
    """A pyramid of ``len(channels)`` levels; ops: both convs of every scale."""
    pyramid = need_pyramid(one_input(in_shapes, "multiscale_conv"), "multiscale_conv")
    scales = multiscale_scales(config, pyramid)
    ops = sum(s["lateral_ops"] + s["vertical_ops"] for s in scales)
    params = sum(s["kh"] * s["kw"] * (s["cin"] + s["vertical_cin"]) * s["cout"] + 2 * s["cout"] for s in scales)
    out = PyramidShape(tuple(TensorShape((s["cout"], s["h"], s["w"])) for s in scales))
    return LayerFacts(out, ops, params)


def build(layer):
    from ..nn.layers import MultiscaleConv

    return MultiscaleConv(layer.config, layer.in_shapes[0])


def kernel(module, layer, options):
    """BN folded into both convs of each scale, fused per ``fuse_multiscale`` (None: run the module)."""
    from ..infer import fold

    if not (options["kernels"] and options["fuse_multiscale"] and options["fold_bn"]):
        return None
    try:
        return fold.multiscale_kernel(module, options["fuse_multiscale"], options["channels_last"],
                                      options["fast_pool"])
    except ValueError:  # a batch norm without running statistics: eval mode uses batch statistics
        return None


KINDS = (LayerKind("multiscale_conv", MultiscaleConvLayer, rule, build, kernel),)
