"""Sweeps: declarative experiment files -> many resumable training runs, locally or on Ray.

``routegraph sweep experiments/hybrid.yaml --budget small --tier 1 --jobs 2``.
See docs/experiments.md (format, budgets, tiers) and docs/scale-out.md (Ray).

- :mod:`.schema`: experiment files (pydantic);
- :mod:`.located`: located YAML, and validation errors as located problems;
- :mod:`.budgets`: budgets (iterations + schedule), single-sourced;
- :mod:`.expand`: experiment -> runs with stable ids;
- :mod:`.state`: run status on disk, ``sweep.json``, the lock;
- :mod:`.estimate`: seconds per step and duration estimates;
- :mod:`.executors`: local processes and Ray tasks;
- :mod:`.runner`: the sweep itself.
"""
from __future__ import annotations

from ..errors import ExperimentError
from .budgets import Budget, get_budget, load_budgets_file
from .expand import Plan, RunSpec, expand
from .schema import Experiment, load_experiment

__all__ = ["Budget", "Experiment", "ExperimentError", "Plan", "RunSpec", "expand", "get_budget",
           "load_budgets_file", "load_experiment", "run_sweep"]


def run_sweep(*args, **kwargs):
    """See :func:`routegraph.sweep.runner.run_sweep`."""
    from .runner import run_sweep as _run_sweep

    return _run_sweep(*args, **kwargs)
