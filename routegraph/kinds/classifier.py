"""``classifier``: a terminal linear layer from a flat vector to ``classes`` logits.

A graph-node kind (``node_only``): its model declares ``name`` and a single
``input`` itself, and it is never a router or block step.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({"classes": 3, "bias": False}, (TensorShape((4,)),)).ops
12
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from . import linear
from .fields import Bool, Init, Name, PosInt, Strict
from .registry import LayerKind


class ClassifierNode(Strict):
    """A terminal classifier: linear layer from a flat vector to ``classes`` logits."""

    kind: Literal["classifier"]
    name: Name
    input: Name = Field(description="the flat feature vector it reads")
    classes: PosInt = Field(description="number of classes (logits)")
    bias: Bool = Field(True, description="add a learned bias")
    init: Init = Field("xavier", description="weight initialisation: 'xavier' or 'zeros'")
    error: Literal["cross_entropy"] = Field(
        "cross_entropy", description="the cost of error at this leaf; training takes it from its 'error' setting "
                                     "(--error), so only the default is accepted here")

    @field_validator("error", mode="before")
    @classmethod
    def _error_is_a_training_setting(cls, value: Any) -> Any:
        # Training never read a per-leaf error; accepting zero_one here would be silently ignored.
        if value == "zero_one":
            raise PydanticCustomError(
                "leaf_error", "'cross_entropy': every leaf takes its error from the training setting "
                              "(train --error zero_one, for critic targets)")
        return value


def rule(config, in_shapes):
    """The linear rule with ``classes`` outputs, on a flat vector only (logits are per example)."""
    return linear.rule(config, in_shapes, "classifier", "classes", tokens=False)


def build(layer):
    """An ``nn.Linear`` with ``classes`` outputs."""
    return linear.build(layer, "classes")


def kernel(module, layer, options):
    """The linear layer as a plain callable."""
    from ..infer import fold

    return fold.linear_kernel(module) if options["kernels"] else None


KINDS = (LayerKind("classifier", ClassifierNode, rule, build, kernel, node_only=True),)
