"""Inference kernels: eval-mode layers with batch normalization folded in.

In eval mode a batch normalization is an affine map per channel,
``y = scale * x + shift`` with ``scale = gamma / sqrt(var + eps)`` and
``shift = beta - mean * scale``. Following a convolution or a linear layer it
folds into that layer's weights and bias::

    W' = scale * W        b' = scale * b + shift      (b = 0 without a bias)

Folding is done in float64 and cast back to the model's dtype. It changes no
operation count (a bias add is not a multiply-accumulate) and leaves the
trained model untouched: every kernel holds its own folded copies.

Each ``*_kernel`` function returns a plain callable that takes the node's
inputs positionally, like the module it replaces, with no ``nn.Module`` call
machinery in between.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.layers import pyramid_levels

Kernel = Callable[..., object]


def bn_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(scale, shift)`` in float64 of an eval-mode batch norm, or None if it cannot fold
    (no running statistics: eval mode would then use batch statistics)."""
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_mean is None or bn.running_var is None:
        return None
    var, mean = bn.running_var.detach().double(), bn.running_mean.detach().double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    return scale, shift


def fold(weight: torch.Tensor, bias: torch.Tensor | None, affine) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fold ``affine = (scale, shift)`` (or None) into ``weight`` (out channels first) and ``bias``."""
    dtype = weight.dtype
    if affine is None:
        return weight.detach().clone(), None if bias is None else bias.detach().clone()
    scale, shift = affine
    w = weight.detach().double() * scale.reshape((-1,) + (1,) * (weight.dim() - 1))
    b = shift if bias is None else bias.detach().double() * scale + shift
    return w.to(dtype).contiguous(), b.to(dtype).contiguous()


def conv_kernel(conv_module, affine=None, relu: bool = False, channels_last: bool = False) -> Kernel:
    """A :class:`~routegraph.nn.layers.SameConv2d` (+ folded BN) (+ ReLU) as one callable."""
    conv = conv_module.conv
    w, b = fold(conv.weight, conv.bias, affine)
    if channels_last:
        w = w.contiguous(memory_format=torch.channels_last)
    pad, stride, padding = conv_module.pad, conv.stride, conv.padding
    conv2d, pad_fn = F.conv2d, F.pad

    if pad is None and relu:
        def kernel(x):
            return conv2d(x, w, b, stride, padding).relu_()
    elif pad is None:
        def kernel(x):
            return conv2d(x, w, b, stride, padding)
    else:
        def kernel(x):
            y = conv2d(pad_fn(x, pad), w, b, stride, padding)
            return y.relu_() if relu else y
    return kernel


def linear_kernel(linear: nn.Linear, affine=None, relu: bool = False) -> Kernel:
    """An ``nn.Linear`` (+ folded BN) (+ ReLU) as one callable."""
    w, b = fold(linear.weight, linear.bias, affine)
    lin = F.linear
    if relu:
        def kernel(x):
            return lin(x, w, b).relu_()
    else:
        def kernel(x):
            return lin(x, w, b)
    return kernel


def bn_kernel(bn: nn.Module, relu: bool = False) -> Kernel | None:
    """A lone eval-mode batch norm (+ ReLU) as a per-channel affine map, or None if it cannot fold."""
    affine = bn_affine(bn)
    if affine is None:
        return None
    dtype = bn.running_mean.dtype
    scale, shift = (t.to(dtype) for t in affine)

    def kernel(x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = torch.addcmul(shift.reshape(shape), x, scale.reshape(shape))
        return y.relu_() if relu else y
    return kernel


def multiscale_kernel(module, fuse: str = "cat", channels_last: bool = False, fast_pool: bool = True) -> Kernel:
    """A :class:`~routegraph.nn.layers.MultiscaleConv` with BN folded into both convs of each scale.

    ``fuse``: ``"cat"`` runs each coarser scale as ONE convolution over the
    channel-concatenation of the lateral input and the max-pooled finer output
    (weights concatenated likewise: the multiply-accumulates are exactly the two
    convs' sum); ``"add"`` runs two convolutions and adds in place.
    ``fast_pool``: 2x2 max pooling through :func:`pool2` instead of ``F.max_pool2d``.
    """
    first = module.first
    scales = []
    for t, (lateral, norm) in enumerate(zip(module.lateral, module.norms)):
        affine = bn_affine(norm)
        if affine is None:
            raise ValueError("multiscale_conv batch norm without running statistics cannot be folded")
        wl, b = fold(lateral.conv.weight, lateral.conv.bias, affine)
        wv = None
        if t:
            wv, _ = fold(module.vertical[t - 1].conv.weight, None, affine)
            if lateral.pad != module.vertical[t - 1].pad or lateral.conv.padding != module.vertical[t - 1].conv.padding:
                fuse = "add"  # never happens (same map size, same kernel), but stay correct
        if b is None:
            b = torch.zeros(wl.shape[0], dtype=wl.dtype)
        wcat = None if wv is None else torch.cat([wl, wv], 1).contiguous()
        if channels_last:
            wl, wv, wcat = (None if t_ is None else t_.contiguous(memory_format=torch.channels_last) for t_ in (wl, wv, wcat))
        scales.append((wl, wv, wcat, b, lateral.pad, lateral.conv.padding))
    conv2d, pad_fn, cat = F.conv2d, F.pad, torch.cat
    pool = pool2 if fast_pool else _max_pool2

    def kernel(pyramid):
        outputs, previous = [], None
        for t, (wl, wv, wcat, b, pad, padding) in enumerate(scales):
            x = pyramid[first + t]
            if previous is None:
                y = conv2d(x if pad is None else pad_fn(x, pad), wl, b, 1, padding)
            elif fuse == "cat":
                z = cat([x, pool(previous)], 1)
                y = conv2d(z if pad is None else pad_fn(z, pad), wcat, b, 1, padding)
            else:
                p = pool(previous)
                y = conv2d(x if pad is None else pad_fn(x, pad), wl, b, 1, padding)
                y += conv2d(p if pad is None else pad_fn(p, pad), wv, None, 1, padding)
            previous = y.relu_()
            outputs.append(previous)
        return tuple(outputs)
    return kernel


def pool2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling, stride 2 (floor), = ``F.max_pool2d(x, 2)`` exactly.

    PyTorch's CPU max-pool kernel is slow on NCHW maps (tens of times slower than
    a memory-bound pass on this machine's maps); on large maps two element-wise
    maxima over strided views do the same job. Small inputs keep F.max_pool2d
    (fewer calls)."""
    B, C, H, W = x.shape
    if x.numel() < 16384 or H % 2 or W % 2:
        return F.max_pool2d(x, 2)
    if x.is_contiguous():
        a = x.view(B, C, H // 2, 2, W)
        h = torch.maximum(a[:, :, :, 0], a[:, :, :, 1]).view(B, C, H // 2, W // 2, 2)
        return torch.maximum(h[..., 0], h[..., 1])
    if x.is_contiguous(memory_format=torch.channels_last):
        a = x.permute(0, 2, 3, 1).view(B, H // 2, 2, W, C)
        h = torch.maximum(a[:, :, 0], a[:, :, 1]).view(B, H // 2, W // 2, 2, C)
        return torch.maximum(h[:, :, :, 0], h[:, :, :, 1]).permute(0, 3, 1, 2)
    return F.max_pool2d(x, 2)


def _max_pool2(x):
    return F.max_pool2d(x, 2)


def maxpool_kernel(module: nn.MaxPool2d) -> Kernel:
    """``nn.MaxPool2d``; the 2x2/stride-2 case through :func:`pool2`."""
    k, s = module.kernel_size, module.stride
    if k in (2, (2, 2)) and s in (2, (2, 2)) and module.padding in (0, (0, 0)) and module.dilation in (1, (1, 1)) \
            and not module.ceil_mode:
        return pool2
    return module


def pyramid_kernel(sizes, in_hw: tuple[int, int], antialias: bool = False, channels_last: bool = False) -> Kernel:
    """The bilinear image pyramid (:func:`~routegraph.nn.layers.pyramid_levels`); in
    channels-last layout the image is converted once, before resizing, and every level
    comes out channels-last."""

    def kernel(x):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return pyramid_levels(x, sizes, in_hw, antialias)
    return kernel


def relu_kernel(x):
    return tuple(t.relu() for t in x) if isinstance(x, tuple) else x.relu()
