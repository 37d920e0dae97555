"""Routed inference: path-only execution, BN folding, budget calibration.

>>> from routegraph.infer import route
>>> out = route(model, images, k_cpt=4e-9)       # doctest: +SKIP
>>> out.predictions, out.exit, out.ops           # doctest: +SKIP

See docs/inference.md.
"""
from .dense import dense_route  # noqa: F401
from .executor import RoutedOutput, route  # noqa: F401
from .plan import DEFAULT_OPTIONS, ExecutionPlan, build_plan, plan_for  # noqa: F401
