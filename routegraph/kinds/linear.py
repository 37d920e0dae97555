"""``linear``: a fully connected layer on a flat feature vector.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"features": 10, "bias": True}, (TensorShape((64,)),))
LayerFacts(out_shape=TensorShape(dims=(10,)), ops=640, params=650)
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import Bool, Init, PosInt, Strict
from .registry import LayerKind
from .shapes import LayerFacts, TensorShape, need_vector, one_input


class LinearLayer(Strict):
    """Fully connected layer on a flat feature vector."""

    kind: Literal["linear"]
    features: PosInt = Field(description="output features")
    bias: Bool = Field(True, description="add a learned bias")
    init: Init = Field("xavier", description="weight initialisation: 'xavier' or 'zeros'")


def rule(config, in_shapes, kind: str = "linear", features: str = "features") -> LayerFacts:
    """Output (features,); ops: inputs x outputs (the bias is not a multiply-accumulate)."""
    fin = need_vector(one_input(in_shapes, kind), kind).dims[0]
    fout = config[features]
    return LayerFacts(TensorShape((fout,)), fin * fout, fin * fout + (fout if config.get("bias", True) else 0))


def build(layer, features: str = "features"):
    """An ``nn.Linear`` (Xavier or zero weights, zero bias)."""
    from torch import nn

    from ..nn.layers import init_weight

    c = layer.config
    return init_weight(nn.Linear(layer.in_shapes[0].dims[0], c[features], bias=c.get("bias", True)),
                       c.get("init", "xavier"))


# No kernel here: routed inference fuses linear (+ batchnorm) (+ relu) itself (infer/plan.py).
KINDS = (LayerKind("linear", LinearLayer, rule, build, in_router=True),)
