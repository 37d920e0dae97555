"""``dropout``: zeroes elements with probability ``p`` while training; the identity at inference.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"p": 0.1}, (TensorShape((16, 32)),))
LayerFacts(out_shape=TensorShape(dims=(16, 32)), ops=0, params=0)
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import Strict, spec_float
from .registry import LayerKind
from .shapes import LayerFacts, PyramidShape, ShapeProblem, one_input


class DropoutLayer(Strict):
    """Dropout while training (inverted: kept values scaled by 1 / (1 - p)); the identity at inference."""

    kind: Literal["dropout"]
    p: spec_float(ge=0, lt=1) = Field(0.5, description="probability of zeroing an element while training")


def rule(config, in_shapes) -> LayerFacts:
    """Same shape out, zero ops, no parameters."""
    shape = one_input(in_shapes, "dropout")
    if isinstance(shape, PyramidShape):
        raise ShapeProblem(f"dropout takes a tensor, got the pyramid {shape}", "select_scale first")
    return LayerFacts(shape, 0, 0)


def build(layer):
    from torch import nn

    return nn.Dropout(layer.config["p"])


def identity(x):
    return x


def kernel(module, layer, options):
    """Routed inference runs in eval mode, where dropout is the identity: no call at all."""
    return identity if options["kernels"] else None


# Allowed in routers: it regularises the router while training and costs nothing at inference.
KINDS = (LayerKind("dropout", DropoutLayer, rule, build, kernel, in_router=True),)
