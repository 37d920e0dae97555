"""Layer kinds: each kind of node a spec can use, declared once (:class:`LayerKind`).

A kind bundles its pydantic config model, whether it may be a router step,
its shape/ops/params rule, its module builder and, optionally, its fused
inference kernel. The built-in kinds live here, one module each
(``conv2d.py``, ``merge.py`` for ``concat`` and ``add``, ...); plugin packages
add theirs through the ``routegraph.kinds`` entry-point group, user code
through :func:`register_kind` (docs/spec.md, "Your own layer kinds").

Layering. ``kinds/`` sits below ``spec/``: its modules import pydantic and
each other, never ``spec``, ``graph`` or torch at import time.

- ``fields``: the spec's field types (``PosInt``, ``Bool``, ``Strict``...);
  ``spec.schema`` re-exports them.
- ``shapes``: ``TensorShape``, ``PyramidShape``, ``LayerFacts``, ``ShapeProblem``
  and the helpers rules share; ``graph`` re-exports them.
- ``registry``: ``LayerKind``, the registry, entry-point loading.
- the kind modules: a config model and a rule (torch-free); a builder and a
  kernel whose bodies import ``routegraph.nn`` / ``routegraph.infer`` (torch)
  only when called.

Everything that lists kinds derives the list from the registry at call time:
``spec.schema`` (the validation union, router kinds), ``spec.jsonschema``,
the compiler (rules), ``nn.model`` (builders) and ``infer.plan`` (kernels).
``junction`` is not a kind: the compiler handles it (and its router) itself.

>>> import routegraph.kinds as kinds
>>> kinds.get_kind("conv2d").config.__name__
'Conv2dLayer'
"""
from __future__ import annotations

from .fields import Strict
from .registry import (
    GROUP, LayerKind, check_kind, get_kind, kind_names, kinds, register_kind, registered, unregister_kind,
)
from .shapes import LayerFacts, PyramidShape, Shape, ShapeProblem, TensorShape

__all__ = ["GROUP", "LayerFacts", "LayerKind", "PyramidShape", "Shape", "ShapeProblem", "Strict", "TensorShape",
           "check_kind", "get_kind", "kind_names", "kinds", "register_kind", "registered", "unregister_kind"]
