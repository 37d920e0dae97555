"""``batchnorm``: batch normalization over channels of a map, or over features of a vector.

>>> from routegraph.kinds.shapes import TensorShape
>>> rule({}, (TensorShape((8, 4, 4)),)).params
16
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .fields import Strict, spec_float
from .registry import LayerKind
from .shapes import LayerFacts, ShapeProblem, TensorShape, one_input


class BatchNormLayer(Strict):
    """Batch normalization (BN over channels, or over features of a flat vector)."""

    kind: Literal["batchnorm"]
    eps: spec_float(gt=0) = Field(1e-6, description="added to the variance")
    momentum: spec_float(gt=0, le=1) = Field(0.1, description="PyTorch convention: 0.1 == running-average decay 0.9")


def rule(config, in_shapes) -> LayerFacts:
    """Same shape out; zero ops (reference convention); a scale and a shift per channel."""
    shape = one_input(in_shapes, "batchnorm")
    if not isinstance(shape, TensorShape) or len(shape.dims) not in (1, 3):
        raise ShapeProblem(f"batchnorm needs a flat vector or a (C, H, W) map, got {shape}",
                           "[F] or [C, H, W]; for a (T, D) sequence, layernorm")
    return LayerFacts(shape, 0, 2 * shape.dims[0])


def build(layer):
    """``nn.BatchNorm1d`` for vectors, ``nn.BatchNorm2d`` for maps."""
    from torch import nn

    dims = layer.in_shapes[0].dims
    cls = nn.BatchNorm1d if len(dims) == 1 else nn.BatchNorm2d
    return cls(dims[0], eps=layer.config["eps"], momentum=layer.config["momentum"])


# No kernel here: routed inference folds batchnorm into the layer before it, or runs it as an
# affine map (+ relu) itself (infer/plan.py).
KINDS = (LayerKind("batchnorm", BatchNormLayer, rule, build, in_router=True),)
