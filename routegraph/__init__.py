"""routegraph: dynamically-routed neural networks from declarative YAML specs.

The pipeline: ``load_spec(path)`` -> ``compile_spec(spec)`` -> ``build_model(compiled)``.

>>> import routegraph
>>> spec = routegraph.load_spec("specs/tiny_chain.yaml")            # doctest: +SKIP
>>> compiled = routegraph.compile_spec(spec)                        # doctest: +SKIP
>>> model = routegraph.build_model(compiled)                        # doctest: +SKIP

Your own layer kinds: ``routegraph.register_kind(routegraph.LayerKind(...))``
(docs/spec.md, "Your own layer kinds").
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "load_spec": ("routegraph.spec.loader", "load_spec"),
    "loads_spec": ("routegraph.spec.loader", "loads_spec"),
    "compile_spec": ("routegraph.graph.compiler", "compile_spec"),
    "CompiledGraph": ("routegraph.graph.compiled", "CompiledGraph"),
    "build_model": ("routegraph.nn.model", "build_model"),
    "RoutedNetwork": ("routegraph.nn.model", "RoutedNetwork"),
    "LayerKind": ("routegraph.kinds.registry", "LayerKind"),
    "register_kind": ("routegraph.kinds.registry", "register_kind"),
    "unregister_kind": ("routegraph.kinds.registry", "unregister_kind"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    # Lazy so that schema/compile code paths never import torch.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'routegraph' has no attribute {name!r}")
