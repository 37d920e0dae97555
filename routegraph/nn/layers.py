"""Torch modules the layer kinds build (:mod:`routegraph.kinds`: each kind's ``build``).

A builder is ``build(layer) -> nn.Module`` where ``layer`` is a
:class:`~routegraph.graph.compiled.CompiledLayer` or ``CompiledNode`` (both
carry ``config``, ``in_shapes`` and ``out_shape``); :func:`build_module` looks
the kind up in the registry. Every built module's ``forward`` takes the node's
inputs positionally; a pyramid travels as a tuple of tensors, finest first.
``MODULE_BUILDERS`` is a read-only view of the registry (``.get(kind)``).

Initialisation follows the paper: Xavier-uniform weights, zero biases, and
zero weights where ``config['init'] == 'zeros'`` (the routers' last layers).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..kinds.multiscale_conv import multiscale_scales
from ..kinds.registry import KindView, get_kind
from ..kinds.shapes import TensorShape, conv_geometry

MODULE_BUILDERS = KindView("build")


def build_module(layer) -> nn.Module:
    """The module of a compiled node or router layer, from its kind's builder."""
    return get_kind(layer.kind).builder()(layer)


def init_weight(module: nn.Module, init: str = "xavier") -> nn.Module:
    if init == "zeros":
        nn.init.zeros_(module.weight)
    else:
        nn.init.xavier_uniform_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


class SameConv2d(nn.Module):
    """Conv2d with TensorFlow-style 'same' padding and the kernel clipped to the map."""

    def __init__(self, cin: int, cout: int, in_hw: tuple[int, int], kernel: int, stride: int = 1,
                 padding="same", bias: bool = False, init: str = "xavier"):
        super().__init__()
        geometry = conv_geometry({"kernel": kernel, "stride": stride, "padding": padding}, TensorShape((cin,) + tuple(in_hw)))
        oh, ow, kh, kw = geometry
        if padding == "same":
            ph = max((oh - 1) * stride + kh - in_hw[0], 0)
            pw = max((ow - 1) * stride + kw - in_hw[1], 0)
            # (left, right, top, bottom); the extra pixel goes after, as in TensorFlow
            self.pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
            symmetric = self.pad[0] == self.pad[1] and self.pad[2] == self.pad[3]
            conv_pad = (self.pad[2], self.pad[0]) if symmetric else 0
            if symmetric:
                self.pad = None
        else:
            self.pad, conv_pad = None, 0 if padding == "valid" else int(padding)
        self.conv = init_weight(nn.Conv2d(cin, cout, (kh, kw), stride, conv_pad, bias=bias), init)

    def forward(self, x):
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return self.conv(x)

    def conv_with(self, x, weight, bias=None):
        """This conv's geometry (padding, stride) applied with other weights (see ``MultiscaleConv.fused``)."""
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return self.conv._conv_forward(x, weight, bias)

    def same_geometry(self, other: "SameConv2d") -> bool:
        a, b = self.conv, other.conv
        return (self.pad == other.pad and a.kernel_size == b.kernel_size and a.stride == b.stride
                and a.padding == b.padding and a.dilation == b.dilation and a.groups == b.groups == 1
                and a.padding_mode == b.padding_mode)


class MultiscaleConv(nn.Module):
    """The paper's multiscale convolution (see ``MultiscaleConvLayer``).

    Parameters: ``lateral[t]`` (conv of input scale t), ``vertical[t - 1]`` (conv of
    the max-pooled output of scale t - 1) and ``norms[t]`` (batch norm), per output scale t.

    ``fused`` (set by the training fast mode, :mod:`routegraph.train.fast`; the
    parameters stay the same): each coarser scale runs ONE convolution over the
    channel-concatenation ``[input_t, maxpool(output_{t-1})]`` with the lateral and
    vertical weights concatenated along input channels, which is the same sum
    (the same multiply-accumulates) in one kernel, and the ReLU runs in place.
    """

    def __init__(self, config: dict, in_shape):
        super().__init__()
        scales = multiscale_scales(config, in_shape)
        self.first = len(in_shape.levels) - len(scales)
        self.lateral = nn.ModuleList(
            SameConv2d(s["cin"], s["cout"], (s["h"], s["w"]), config["kernel"]) for s in scales)
        self.vertical = nn.ModuleList(
            SameConv2d(s["vertical_cin"], s["cout"], (s["h"], s["w"]), config["kernel"]) for s in scales[1:])
        self.norms = nn.ModuleList(
            nn.BatchNorm2d(s["cout"], eps=config["eps"], momentum=config["momentum"]) for s in scales)
        self.fused = False

    def forward(self, pyramid):
        levels = pyramid[self.first:]
        outputs, previous = [], None
        for t, (level, lateral, norm) in enumerate(zip(levels, self.lateral, self.norms)):
            if not t:
                y = lateral(level)
            else:
                y = self._lateral_plus_vertical(level, F.max_pool2d(previous, 2), lateral, self.vertical[t - 1])
            # fused: ReLU in place (batch norm's backward reads its input, not its output)
            previous = F.relu(norm(y), inplace=self.fused)
            outputs.append(previous)
        return tuple(outputs)

    def _lateral_plus_vertical(self, level, pooled, lateral, vertical):
        if self.fused and lateral.same_geometry(vertical):  # one conv over the channel-concatenation
            weight = torch.cat([lateral.conv.weight, vertical.conv.weight], 1)
            bias = _sum_bias(lateral.conv.bias, vertical.conv.bias)
            return lateral.conv_with(torch.cat([level, pooled], 1), weight, bias)
        return lateral(level) + vertical(pooled)


def _sum_bias(a, b):
    if a is None or b is None:
        return b if a is None else a
    return a + b


class Lambda(nn.Module):
    def __init__(self, fn, description: str = ""):
        super().__init__()
        self.fn, self.description = fn, description

    def forward(self, *inputs):
        return self.fn(*inputs)

    def extra_repr(self) -> str:
        return self.description


def pyramid_levels(x, sizes, in_hw: tuple[int, int], antialias: bool = False) -> tuple:
    """The levels of a bilinear pyramid: each ``size x size``; a level the size of the
    input (``in_hw``, height and width) is the input itself, any other is resized."""
    return tuple(x if (s, s) == in_hw else F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False,
                                                        antialias=antialias) for s in sizes)
