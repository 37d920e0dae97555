"""``relu``: the rectified linear unit, on a tensor or on every level of a pyramid.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({}, (TensorShape((4,)),))
LayerFacts(out_shape=TensorShape(dims=(4,)), ops=0, params=0)
"""
from __future__ import annotations

from typing import Literal

from .fields import Strict
from .registry import LayerKind
from .shapes import LayerFacts, one_input


class ReluLayer(Strict):
    """Rectified linear unit (applies to every level of a pyramid)."""

    kind: Literal["relu"]


def rule(config, in_shapes) -> LayerFacts:
    """Same shape out, zero ops, no parameters."""
    return LayerFacts(one_input(in_shapes, "relu"), 0, 0)


def relu(x):
    """ReLU of a tensor, or of each level of a pyramid (a tuple)."""
    import torch.nn.functional as F

    return tuple(F.relu(t) for t in x) if isinstance(x, tuple) else F.relu(x)


def build(layer):
    from ..nn.layers import Lambda

    return Lambda(relu, "relu")


def kernel(module, layer, options):
    from ..infer import fold

    return fold.relu_kernel if options["kernels"] else None


KINDS = (LayerKind("relu", ReluLayer, rule, build, kernel, in_router=True),)
