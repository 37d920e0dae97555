"""Shape and operation-count rules, one per primitive layer kind.

``SHAPE_RULES`` maps a kind to ``rule(config, in_shapes) -> LayerFacts``.
A rule raises :class:`ShapeProblem` (message, allowed) when its inputs do not
fit; the compiler turns that into a located :class:`~routegraph.errors.SpecError`.

Counting convention (reference): multiply-accumulates of convolutions and
linear layers only, without bias; BN, ReLU, pooling and resizing cost zero; a
conv kernel is clipped to the map size under 'same' padding.

>>> from routegraph.graph.compiled import TensorShape
>>> SHAPE_RULES.get("linear")({"features": 10, "bias": True}, (TensorShape((64,)),))
LayerFacts(out_shape=TensorShape(dims=(10,)), ops=640, params=650)
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from ..registry import Registry
from .compiled import PyramidShape, Shape, TensorShape

SHAPE_RULES: Registry = Registry(
    "layer kind", "rule(config: dict, in_shapes: tuple[Shape, ...]) -> LayerFacts"
)


@dataclass(frozen=True)
class LayerFacts:
    out_shape: Shape
    ops: int
    params: int


class ShapeProblem(Exception):
    """Raised by a rule: the inputs do not fit this layer."""

    def __init__(self, message: str, allowed: str = "", at: str = ""):
        super().__init__(message)
        # at: the node's field the problem is in (default: its input, as a shape mismatch)
        self.message, self.allowed, self.at = message, allowed, at


def _one_input(in_shapes, kind: str) -> Shape:
    if len(in_shapes) != 1:
        raise ShapeProblem(f"{kind} takes exactly one input, got {len(in_shapes)}", "one name")
    return in_shapes[0]


def _map(shape: Shape, kind: str) -> TensorShape:
    if not isinstance(shape, TensorShape) or len(shape.dims) != 3:
        raise ShapeProblem(f"{kind} needs a (C, H, W) map, got {shape}", "a C x H x W tensor")
    return shape


def _pyramid(shape: Shape, kind: str) -> PyramidShape:
    if not isinstance(shape, PyramidShape):
        raise ShapeProblem(f"{kind} needs a pyramid, got {shape}", "the output of pyramid or multiscale_conv")
    return shape


def clipped_kernel(kernel: int, size: int, padding) -> int:
    """Kernels are clipped to the map size under 'same' padding (reference convention)."""
    return min(kernel, size) if padding == "same" else kernel


def conv_geometry(config: dict, shape: TensorShape) -> tuple[int, int, int, int]:
    """(out_h, out_w, kernel_h, kernel_w) of a conv2d on ``shape``."""
    _, h, w = shape.dims
    k, s, pad = config.get("kernel", 3), config.get("stride", 1), config.get("padding", "same")
    kh, kw = clipped_kernel(k, h, pad), clipped_kernel(k, w, pad)
    if pad == "same":
        return ceil(h / s), ceil(w / s), kh, kw
    p = 0 if pad == "valid" else int(pad)
    oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    if oh < 1 or ow < 1:
        raise ShapeProblem(f"kernel {k} does not fit a {h}x{w} map with padding {pad!r}", "a kernel no larger than the padded map")
    return oh, ow, kh, kw


@SHAPE_RULES.register("conv2d")
def _conv2d(config, in_shapes):
    shape = _map(_one_input(in_shapes, "conv2d"), "conv2d")
    cin, cout = shape.dims[0], config["channels"]
    oh, ow, kh, kw = conv_geometry(config, shape)
    weights = kh * kw * cin * cout
    return LayerFacts(TensorShape((cout, oh, ow)), oh * ow * weights, weights + (cout if config.get("bias") else 0))


@SHAPE_RULES.register("linear")
def _linear(config, in_shapes):
    shape = _one_input(in_shapes, "linear")
    if not isinstance(shape, TensorShape) or len(shape.dims) != 1:
        raise ShapeProblem(f"linear needs a flat vector, got {shape}", "add a flatten node first")
    fin, fout = shape.dims[0], config["features"]
    return LayerFacts(TensorShape((fout,)), fin * fout, fin * fout + (fout if config.get("bias", True) else 0))


@SHAPE_RULES.register("classifier")
def _classifier(config, in_shapes):
    facts = _linear({"features": config["classes"], "bias": config.get("bias", True)}, in_shapes)
    return facts


@SHAPE_RULES.register("batchnorm")
def _batchnorm(config, in_shapes):
    shape = _one_input(in_shapes, "batchnorm")
    if not isinstance(shape, TensorShape) or len(shape.dims) not in (1, 3):
        raise ShapeProblem(f"batchnorm needs a flat vector or a (C, H, W) map, got {shape}")
    return LayerFacts(shape, 0, 2 * shape.dims[0])


@SHAPE_RULES.register("relu")
def _relu(config, in_shapes):
    return LayerFacts(_one_input(in_shapes, "relu"), 0, 0)


@SHAPE_RULES.register("maxpool")
def _maxpool(config, in_shapes):
    c, h, w = _map(_one_input(in_shapes, "maxpool"), "maxpool").dims
    k = config.get("kernel", 2)
    s = config.get("stride") or k
    if h < k or w < k:
        raise ShapeProblem(f"maxpool kernel {k} is larger than the {h}x{w} map", f"maps of at least {k}x{k}")
    return LayerFacts(TensorShape((c, (h - k) // s + 1, (w - k) // s + 1)), 0, 0)


@SHAPE_RULES.register("resize")
def _resize(config, in_shapes):
    c = _map(_one_input(in_shapes, "resize"), "resize").dims[0]
    return LayerFacts(TensorShape((c, config["size"], config["size"])), 0, 0)


@SHAPE_RULES.register("pyramid")
def _pyramid_rule(config, in_shapes):
    c = _map(_one_input(in_shapes, "pyramid"), "pyramid").dims[0]
    sizes = config["sizes"]
    if list(sizes) != sorted(sizes, reverse=True) or len(set(sizes)) != len(sizes):
        raise ShapeProblem(f"pyramid sizes must strictly decrease, got {sizes}", "e.g. [32, 16, 8, 4]")
    return LayerFacts(PyramidShape(tuple(TensorShape((c, s, s)) for s in sizes)), 0, 0)


def multiscale_plan(config: dict, pyramid: PyramidShape) -> list[dict]:
    """Per output scale: its input level, size, channels and both convs' kernel and ops."""
    channels, k = config["channels"], config.get("kernel", 3)
    m = len(channels)
    if len(pyramid.levels) < m:
        raise ShapeProblem(
            f"multiscale_conv with {m} scales needs a pyramid of at least {m} levels, got {pyramid}",
            f"at most {len(pyramid.levels)} entries in channels",
        )
    levels = pyramid.levels[-m:]
    plan, previous = [], None
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
        plan.append(scale)
        previous = scale
    return plan


@SHAPE_RULES.register("multiscale_conv")
def _multiscale(config, in_shapes):
    pyramid = _pyramid(_one_input(in_shapes, "multiscale_conv"), "multiscale_conv")
    plan = multiscale_plan(config, pyramid)
    ops = sum(s["lateral_ops"] + s["vertical_ops"] for s in plan)
    params = sum(s["kh"] * s["kw"] * (s["cin"] + s["vertical_cin"]) * s["cout"] + 2 * s["cout"] for s in plan)
    out = PyramidShape(tuple(TensorShape((s["cout"], s["h"], s["w"])) for s in plan))
    return LayerFacts(out, ops, params)


@SHAPE_RULES.register("select_scale")
def _select(config, in_shapes):
    pyramid = _pyramid(_one_input(in_shapes, "select_scale"), "select_scale")
    n, index = len(pyramid.levels), config.get("index", -1)
    if not -n <= index < n:
        raise ShapeProblem(f"index {index} is out of range for a pyramid of {n} levels", f"{-n} .. {n - 1}")
    return LayerFacts(pyramid.levels[index], 0, 0)


@SHAPE_RULES.register("flatten")
def _flatten(config, in_shapes):
    shape = _one_input(in_shapes, "flatten")
    if isinstance(shape, PyramidShape):
        shape = shape.levels[-1]
    return LayerFacts(TensorShape((shape.numel,)), 0, 0)


@SHAPE_RULES.register("concat")
def _concat(config, in_shapes):
    first = in_shapes[0]
    if isinstance(first, PyramidShape) or any(isinstance(s, PyramidShape) for s in in_shapes):
        raise ShapeProblem("concat takes tensors, not pyramids", "select_scale first")
    rest = [s.dims[1:] for s in in_shapes]
    if len(first.dims) not in (1, 3) or any(len(s.dims) != len(first.dims) or s.dims[1:] != first.dims[1:] for s in in_shapes):
        shapes = ", ".join(map(str, in_shapes))
        raise ShapeProblem(f"concat inputs must agree on every axis but channels, got {shapes}", "equal H x W, or flat vectors")
    del rest
    return LayerFacts(TensorShape((sum(s.dims[0] for s in in_shapes),) + first.dims[1:]), 0, 0)


@SHAPE_RULES.register("add")
def _add(config, in_shapes):
    if len(set(in_shapes)) != 1:
        raise ShapeProblem("add inputs must have equal shapes, got " + ", ".join(map(str, in_shapes)), "equal shapes")
    return LayerFacts(in_shapes[0], 0, 0)


from ..kinds import module as _module_kind  # noqa: E402  # module kind: moves to the kind registry

SHAPE_RULES.register("module")(_module_kind.shape_rule)  # module kind: moves to the kind registry
