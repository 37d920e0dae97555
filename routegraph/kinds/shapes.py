"""Shapes and the facts a kind's rule returns; the helpers rules share. No torch here.

A kind's rule is ``rule(config, in_shapes) -> LayerFacts``: ``config`` is the
node's validated fields as a dict (without name, input and kind), ``in_shapes``
one :data:`Shape` per input, without the batch axis. A rule raises
:class:`ShapeProblem` (message, allowed) when its inputs do not fit; the
compiler turns that into a located :class:`~routegraph.errors.SpecError`.

Counting convention (reference): multiply-accumulates of convolutions and
linear layers only, without bias; BN, layer norm, ReLU, GELU, dropout, pooling and
resizing cost zero; a
conv kernel is clipped to the map size under 'same' padding.

>>> conv_geometry({"kernel": 3, "stride": 2, "padding": "same"}, TensorShape((3, 32, 32)))
(16, 16, 3, 3)
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Union

from ..errors import ShapeProblem  # noqa: F401  (its home is errors.py; rules import it from here)


@dataclass(frozen=True)
class TensorShape:
    """Shape of one example's tensor, without the batch axis: (C, H, W) maps, (T, D) sequences, (F,) vectors."""

    dims: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    def __str__(self) -> str:
        return "x".join(map(str, self.dims))


@dataclass(frozen=True)
class PyramidShape:
    """Shape of a feature pyramid: one (C, H, W) map per scale, finest first."""

    levels: tuple[TensorShape, ...]

    def __str__(self) -> str:
        return "[" + ", ".join(map(str, self.levels)) + "]"


Shape = Union[TensorShape, PyramidShape]


@dataclass(frozen=True)
class LayerFacts:
    """What a rule computes: the output shape, multiply-accumulates and parameters per example."""

    out_shape: Shape
    ops: int
    params: int


def one_input(in_shapes, kind: str) -> Shape:
    """The single input of a one-input kind (else a :class:`ShapeProblem`).

    >>> one_input((TensorShape((4,)),), "relu")
    TensorShape(dims=(4,))
    """
    if len(in_shapes) != 1:
        raise ShapeProblem(f"{kind} takes exactly one input, got {len(in_shapes)}", "one name")
    return in_shapes[0]


def need_map(shape: Shape, kind: str) -> TensorShape:
    """``shape`` if it is a (C, H, W) map (else a :class:`ShapeProblem`).

    >>> need_map(TensorShape((3, 8, 8)), "maxpool").dims
    (3, 8, 8)
    """
    if not isinstance(shape, TensorShape) or len(shape.dims) != 3:
        raise ShapeProblem(f"{kind} needs a (C, H, W) map, got {shape}", "a C x H x W tensor")
    return shape


def need_vector(shape: Shape, kind: str, allowed: str = "add a flatten node first") -> TensorShape:
    """``shape`` if it is a flat (F,) vector (else a :class:`ShapeProblem`).

    >>> need_vector(TensorShape((64,)), "linear").dims
    (64,)
    """
    if not isinstance(shape, TensorShape) or len(shape.dims) != 1:
        raise ShapeProblem(f"{kind} needs a flat vector, got {shape}", allowed)
    return shape


def need_pyramid(shape: Shape, kind: str) -> PyramidShape:
    """``shape`` if it is a pyramid (else a :class:`ShapeProblem`).

    >>> len(need_pyramid(PyramidShape((TensorShape((3, 4, 4)),)), "select_scale").levels)
    1
    """
    if not isinstance(shape, PyramidShape):
        raise ShapeProblem(f"{kind} needs a pyramid, got {shape}", "the output of pyramid or multiscale_conv")
    return shape


def clipped_kernel(kernel: int, size: int, padding) -> int:
    """Kernels are clipped to the map size under 'same' padding (reference convention).

    >>> clipped_kernel(5, 2, "same"), clipped_kernel(5, 2, "valid")
    (2, 5)
    """
    return min(kernel, size) if padding == "same" else kernel


def conv_geometry(config: dict, shape: TensorShape) -> tuple[int, int, int, int]:
    """(out_h, out_w, kernel_h, kernel_w) of a conv2d on ``shape``."""
    _, h, w = shape.dims
    k, s, pad = config["kernel"], config["stride"], config["padding"]
    kh, kw = clipped_kernel(k, h, pad), clipped_kernel(k, w, pad)
    if pad == "same":
        return ceil(h / s), ceil(w / s), kh, kw
    p = 0 if pad == "valid" else int(pad)
    oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    if oh < 1 or ow < 1:
        raise ShapeProblem(f"kernel {k} does not fit a {h}x{w} map with padding {pad!r}", "a kernel no larger than the padded map")
    return oh, ow, kh, kw
