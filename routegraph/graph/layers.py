"""Shape and operation-count rules: their home is now each kind's module in :mod:`routegraph.kinds`.

This module keeps the old names importable. ``SHAPE_RULES`` is a read-only
view of the kind registry (no second copy): ``SHAPE_RULES.get(kind)`` is
``get_kind(kind).rule``.

>>> from routegraph.graph.compiled import TensorShape
>>> SHAPE_RULES.get("linear")({"features": 10, "bias": True}, (TensorShape((64,)),))
LayerFacts(out_shape=TensorShape(dims=(10,)), ops=640, params=650)
"""
from __future__ import annotations

from ..kinds.multiscale_conv import multiscale_scales, multiscale_scales as multiscale_plan  # noqa: F401  (old name)
from ..kinds.registry import KindView
from ..kinds.shapes import LayerFacts, ShapeProblem, clipped_kernel, conv_geometry  # noqa: F401

SHAPE_RULES = KindView("rule")
