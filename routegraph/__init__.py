"""routegraph: dynamically-routed neural networks from declarative YAML specs.

The pipeline: ``load_spec(path)`` -> ``compile_spec(spec)`` -> ``build_model(compiled)``;
``train_run(spec_path, out, TrainConfig(...), task=Task.from_arrays(...))`` trains a run
directory on the user's arrays, ``load_run(out)`` loads it back, ``route(model, x)`` runs
it path-only (README, "Python").

>>> import routegraph
>>> compiled = routegraph.compile_spec(routegraph.load_spec("specs/tiny_chain.yaml"))
>>> [path.ops for path in compiled.paths][:2]
[48976, 135904]
>>> model = routegraph.build_model(compiled)                        # doctest: +SKIP
>>> out = routegraph.route(model, images, k_cpt=1e-8)               # doctest: +SKIP

Nothing here imports torch until a name from the torch half is used (``build_model``,
``route``, ``Task``, ``TrainConfig``, ...). Your own layer kinds: ``routegraph.register_kind(
routegraph.LayerKind(...))`` (docs/spec.md, "Your own layer kinds").
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
    "Task": ("routegraph.data.task", "Task"),
    "TrainConfig": ("routegraph.train.config", "TrainConfig"),
    "Method": ("routegraph.methods", "Method"),
    "register_method": ("routegraph.methods", "register_method"),
    "unregister_method": ("routegraph.methods", "unregister_method"),
    "Strategy": ("routegraph.train.strategies", "Strategy"),
    "train_run": ("routegraph.train.run", "train_run"),
    "load_run": ("routegraph.train.rundir", "load_run"),
    "route": ("routegraph.infer.executor", "route"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    # Lazy so that schema/compile code paths never import torch.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'routegraph' has no attribute {name!r}")
