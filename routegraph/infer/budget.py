"""Calibrating a saved run for an ops budget: the workflow behind ``routegraph calibrate``.

:func:`calibrate_saved_run` loads the run's task, takes the images the run never
trained on (its validation split; its test split only when asked), splits them in a
calibration and a verification half, and calls :func:`~routegraph.infer.calibrate.calibrate_run`
(the search itself). The result says where the images came from, for the JSON record.

>>> from routegraph.infer.budget import calibrate_saved_run
>>> found = calibrate_saved_run("runs/dyn", budget_ops=5e6)        # doctest: +SKIP
>>> found.result.k_cpt, found.result.met, found.to_json()["split"]  # doctest: +SKIP
(4.1e-09, True, 'val')
"""
from __future__ import annotations

from dataclasses import dataclass

from .calibrate import BudgetResult, calibrate_run, split_halves


@dataclass
class RunCalibration:
    """What :func:`calibrate_saved_run` found: the search's ``result``, and the run, task
    and split it was found on (``validation``: where those images came from)."""

    result: BudgetResult
    run: object  # routegraph.train.rundir.Run
    task: str
    split: str  # "val", or "test" with on_test_split
    validation: dict

    @property
    def held_out(self) -> bool:
        """False when the images were the test split: the test accuracy at the pick is then
        no longer an independent estimate."""
        return self.validation["held_out"]

    def to_json(self) -> dict:
        """The JSON record ``routegraph calibrate --json`` writes."""
        return {"run_id": self.run.config.get("run_id"), "task": self.task, "split": self.split,
                "validation": self.validation, **self.result.to_json()}


def calibrate_saved_run(run, budget_ops: float, *, data: str | None = None, data_dir=None,
                        data_options: dict | None = None, limit: int | None = None, seed: int = 0,
                        on_test_split: bool = False, batch_size: int = 500,
                        precision: str = "fp32") -> RunCalibration:
    """Pick the k_cpt at which saved run ``run`` (a run directory, or a loaded run) meets
    ``budget_ops`` mean multiply-accumulates per image, and verify it path-only.

    A dynamic-k_cpt run is searched on one half of its validation split (``limit``: at most
    that many images, a random subset drawn with ``seed``) and verified on the other; a
    fixed-k_cpt run is routed once on all of them. ``data``, ``data_dir`` and ``data_options``
    choose another task than the run's own. A run with no validation split is refused
    (:class:`~routegraph.errors.ConfigError`) unless ``on_test_split``. See
    docs/inference.md.
    """
    from ..train.config import K_CPT_SET
    from ..train.rundir import load_run, load_run_task, run_validation

    if not hasattr(run, "model"):
        run = load_run(run)
    config, model = run.config, run.model
    task = load_run_task(run, data, data_dir, data_options or {})
    task, split = run_validation(run, task, on_test_split)
    images, labels = task.view(split), task.labels(split)  # rows, read a batch at a time: memory holds a batch, not the split
    cal, ver = split_halves(len(images), seed, limit)
    if model.graph.k_cpt_input:
        result = calibrate_run(model, images[cal], labels[cal], budget_ops, config.get("k_cpt_set") or K_CPT_SET,
                               batch_size=batch_size, verify_on=(images[ver], labels[ver]), precision=precision)
    else:
        import torch

        every = torch.cat([cal, ver])
        result = calibrate_run(model, images[every], labels[every], budget_ops, (), batch_size=batch_size,
                               precision=precision)
    return RunCalibration(result, run, task.name, split, validation_record(task, split))


def validation_record(task, split: str) -> dict:
    """Where the calibration images came from: ``held_out`` is true only for a validation
    split (kept out of training and out of the test split).

    >>> class Task:
    ...     def labels(self, split): return [0, 1, 1]
    >>> validation_record(Task(), "test")
    {'source': 'test', 'n': 3, 'held_out': False}
    """
    if split == "test":
        return {"source": "test", "n": len(task.labels("test")), "held_out": False}
    return {**task.validation_record(), "held_out": True}
