"""``gelu``: the Gaussian error linear unit, element-wise; no parameters, zero ops.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"approximate": "tanh"}, (TensorShape((16, 32)),))
LayerFacts(out_shape=TensorShape(dims=(16, 32)), ops=0, params=0)
"""
from __future__ import annotations

from functools import partial
from typing import Literal

from pydantic import Field

from .fields import Strict
from .registry import LayerKind
from .shapes import LayerFacts, one_input


class GeluLayer(Strict):
    """GELU activation, element-wise (every level of a pyramid)."""

    kind: Literal["gelu"]
    approximate: Literal["none", "tanh"] = Field("none", description="'none' (exact, erf) or 'tanh' (the tanh approximation)")


def rule(config, in_shapes) -> LayerFacts:
    """Same shape out, zero ops (an activation), no parameters."""
    return LayerFacts(one_input(in_shapes, "gelu"), 0, 0)


def gelu(x, approximate: str = "none"):
    """GELU of a tensor, or of each level of a pyramid (a tuple)."""
    import torch.nn.functional as F

    return tuple(F.gelu(t, approximate=approximate) for t in x) if isinstance(x, tuple) else F.gelu(x, approximate=approximate)


def _fn(layer):
    return partial(gelu, approximate=layer.config["approximate"])


def build(layer):
    from ..nn.layers import Lambda

    return Lambda(_fn(layer), f"gelu ({layer.config.get('approximate', 'none')})")


def kernel(module, layer, options):
    return _fn(layer) if options["kernels"] else None


KINDS = (LayerKind("gelu", GeluLayer, rule, build, kernel, in_router=True),)
