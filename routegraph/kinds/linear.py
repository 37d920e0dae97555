"""``linear``: a fully connected layer on a flat feature vector, or on each token of a sequence.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"features": 10, "bias": True}, (TensorShape((64,)),))
LayerFacts(out_shape=TensorShape(dims=(10,)), ops=640, params=650)
>>> rule({"features": 10, "bias": True}, (TensorShape((16, 64)),))  # per token, like nn.Linear
LayerFacts(out_shape=TensorShape(dims=(16, 10)), ops=10240, params=650)
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import Bool, Init, PosInt, Strict
from .registry import LayerKind
from .shapes import LayerFacts, ShapeProblem, TensorShape, need_vector, one_input


class LinearLayer(Strict):
    """Fully connected layer on a flat feature vector (F,), or on each token of a sequence (T, D)."""

    kind: Literal["linear"]
    features: PosInt = Field(description="output features")
    bias: Bool = Field(True, description="add a learned bias")
    init: Init = Field("xavier", description="weight initialisation: 'xavier' or 'zeros'")


def rule(config, in_shapes, kind: str = "linear", features: str = "features", tokens: bool = True) -> LayerFacts:
    """Output (features,), or (T, features) per token of a (T, D) sequence (``tokens``); ops:
    inputs x outputs per vector (T x D x features for a sequence; the bias is not a multiply-accumulate)."""
    shape = one_input(in_shapes, kind)
    if not tokens:
        shape = need_vector(shape, kind)
    elif not isinstance(shape, TensorShape) or len(shape.dims) not in (1, 2):
        raise ShapeProblem(f"{kind} needs a vector (F,) or a sequence (T, D), got {shape}",
                           "[F] or [T, D]; add a flatten node first")
    *lead, fin = shape.dims
    fout = config[features]
    per_vector = fin * fout
    return LayerFacts(TensorShape((*lead, fout)), per_vector * (lead[0] if lead else 1),
                      per_vector + (fout if config["bias"] else 0))


def build(layer, features: str = "features"):
    """An ``nn.Linear`` (Xavier or zero weights, zero bias)."""
    from torch import nn

    from ..nn.layers import init_weight

    c = layer.config
    return init_weight(nn.Linear(layer.in_shapes[0].dims[-1], c[features], bias=c["bias"]),
                       c["init"])


# No kernel here: routed inference fuses linear (+ batchnorm) (+ relu) itself (infer/plan.py).
KINDS = (LayerKind("linear", LinearLayer, rule, build, in_router=True),)
