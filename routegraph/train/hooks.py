"""Hooks the training loop calls: progress bar, metrics log, checkpoints, periodic evaluation.

A hook implements any of ``on_fit_start(trainer)``, ``on_step_end(trainer, stats)``
and ``on_fit_end(trainer)``. ``trainer.iteration`` counts finished steps.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

from ..io import atomic_write_json
from ..runs import append_metrics, keep_metrics_until


class Hook:
    def on_fit_start(self, trainer) -> None: ...
    def on_step_end(self, trainer, stats: dict) -> None: ...
    def on_fit_end(self, trainer) -> None: ...


class ProgressBar(Hook):
    """A tqdm bar: iteration, loss, error, mean ops, tau, lr, examples/s."""

    def __init__(self, every: int = 10, disable: bool = False):
        self.every, self.disable, self.bar = every, disable, None

    def on_fit_start(self, trainer):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.config.iterations, initial=trainer.iteration, disable=self.disable,
                        unit="it", dynamic_ncols=True, desc=trainer.strategy.name)

    def on_step_end(self, trainer, stats):
        self.bar.update(1)
        if trainer.iteration % self.every == 0:
            self.bar.set_postfix(loss=f"{stats['loss']:.3f}", err=f"{stats['error']:.3f}",
                                 ops=f"{stats['mean_ops']:.3g}", tau=f"{stats['tau']:.3g}",
                                 lr=f"{stats['lr']:.3g}", ex_s=f"{stats['examples_per_s']:.0f}", refresh=False)

    def on_fit_end(self, trainer):
        if self.bar is not None:
            self.bar.close()


class MetricsLogger(Hook):
    """Appends one JSON line per ``every`` iterations to ``metrics.jsonl``.

    On resume, lines past the resumed iteration (written after the last
    checkpoint) are dropped first, so the log matches an uninterrupted run. A torn
    last line (the process was killed while writing it) is dropped with a warning;
    a damaged line elsewhere is a :class:`CheckpointError`.
    """

    def __init__(self, path: str | Path, every: int = 50):
        self.path, self.every = Path(path), every

    def on_fit_start(self, trainer):
        if self.path.exists():
            torn = keep_metrics_until(self.path, trainer.iteration)
            if torn:
                warnings.warn(torn, stacklevel=2)

    def write(self, record: dict) -> None:
        append_metrics(self.path, record)

    def on_step_end(self, trainer, stats):
        if trainer.iteration % self.every == 0 or trainer.iteration == trainer.config.iterations:
            self.write({"iteration": trainer.iteration, **stats})


class Checkpointer(Hook):
    """Saves ``checkpoint.pt`` every ``every`` iterations and at the end (atomically);
    ``run`` (the run's data settings) is stored with it, for resume to compare."""

    def __init__(self, path: str | Path, every: int = 500, run: dict | None = None):
        self.path, self.every, self.run = Path(path), every, run

    def on_step_end(self, trainer, stats):
        if self.every and trainer.iteration % self.every == 0:
            trainer.save(self.path, self.run)

    def on_fit_end(self, trainer):
        trainer.save(self.path, self.run)


class PeriodicEvaluation(Hook):
    """Evaluates on held-out images every ``every`` iterations and logs ``{"iteration", "eval"}``."""

    def __init__(self, images, labels, every: int, logger: MetricsLogger | None = None, k_cpt=None):
        self.images, self.labels, self.every, self.logger, self.k_cpt = images, labels, every, logger, k_cpt
        self.history: list[dict] = []

    def on_step_end(self, trainer, stats):
        if self.every and trainer.iteration % self.every == 0:
            from .evaluate import evaluate

            started = time.perf_counter()
            record = evaluate(trainer.model, self.images, self.labels, self.k_cpt, split="validation",
                              precision=trainer.precision)
            record["seconds"] = time.perf_counter() - started
            self.history.append({"iteration": trainer.iteration, "eval": record})
            if self.logger is not None:
                self.logger.write(self.history[-1])


class JsonSnapshot(Hook):
    """Writes the latest stats to a JSON file (handy for dashboards and tests)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_step_end(self, trainer, stats):
        atomic_write_json(self.path, {"iteration": trainer.iteration, **stats})
