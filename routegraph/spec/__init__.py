"""The spec language: YAML files describing routed networks.

``load_spec(path)`` / ``loads_spec(text)`` read, expand and validate a spec
into a :class:`~routegraph.spec.schema.Spec`; ``parse_overrides`` parses the
``--set NAME=VALUE`` options that replace params. See docs/spec.md. Nothing
here imports torch.
"""
from __future__ import annotations

from .loader import load_spec, loads_spec, parse_overrides
from .schema import Spec, SpecFile, spec_types

__all__ = ["LAYER_KINDS", "NODE_KINDS", "Spec", "SpecFile", "load_spec", "loads_spec", "parse_overrides",
           "spec_types"]


def __getattr__(name: str):
    # the kind lists are derived from the kind registry when asked for
    if name in ("LAYER_KINDS", "NODE_KINDS"):
        return getattr(spec_types(), name.lower())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
