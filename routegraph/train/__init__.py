"""Training: one loop (:class:`Trainer`), swappable strategies, hooks, evaluation.

Nothing here imports torch until a name from the torch half is used, so that the torch-free
modules below it (:mod:`routegraph.train.config`, :mod:`routegraph.train.rundir`) and those
that read them (sweeps, pictures) load without it. ``evaluate`` is the submodule (its function
is ``routegraph.train.evaluate.evaluate``): a lazy name cannot shadow a submodule once imported.

>>> from routegraph.train import TrainConfig
>>> TrainConfig(method="actor").method
'actor'
"""
from __future__ import annotations

_LAZY = {
    **dict.fromkeys(("K_CPT_SET", "TrainConfig", "settings"), "routegraph.train.config"),
    **dict.fromkeys(("Checkpointer", "Hook", "MetricsLogger", "PeriodicEvaluation", "ProgressBar"),
                    "routegraph.train.hooks"),
    "Trainer": "routegraph.train.loop",
    **dict.fromkeys(("Actor", "OptimisticCritic", "PragmaticCritic", "Static", "Strategy",
                     "StepResult", "strategy_from_config"), "routegraph.train.strategies"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'routegraph.train' has no attribute {name!r}")
