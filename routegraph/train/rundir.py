"""Loading a run with its model, locking a run directory while training writes it, and the
task a run is evaluated on. The format itself (its files, run ids) is :mod:`routegraph.runs`.

>>> run = load_run("runs/ac-4e-9")          # doctest: +SKIP
>>> run.model, run.graph, run.config["k_cpt"]  # doctest: +SKIP
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from ..errors import CheckpointError, ConfigError
from ..graph.compiled import CompiledGraph
from ..imports import allowed_prefixes
from ..io import DirectoryLock, LockHeld, remove_stale_temps
from ..runs import CHECKPOINT, LOCK, read_compiled, read_config, read_evaluations


@dataclass
class Run:
    path: Path
    config: dict
    graph: CompiledGraph
    model: object = None  # RoutedNetwork once loaded

    @property
    def evaluations(self) -> list[dict]:
        return read_evaluations(self.path).get("evaluations", [])


def load_run(path: str | Path, *, with_model: bool = True, allow_import=None) -> Run:
    """Load a run's config and compiled graph, and (by default) its trained model.

    ``allow_import``: module prefixes its ``module`` nodes may import, as for
    :func:`routegraph.load_spec` (what the run was trained with is not trusted)."""
    path = Path(path)
    config = read_config(path)
    graph = replace(read_compiled(path), allow_import=allowed_prefixes(allow_import))
    run = Run(path, config, graph)
    if with_model:  # the torch half, imported only here
        from ..nn.model import build_model
        from .checkpoint import load_checkpoint, load_model_state

        run.model = build_model(graph)
        load_model_state(run.model, load_checkpoint(path / CHECKPOINT), path / CHECKPOINT)
        run.model.eval()
    return run


@contextmanager
def run_lock(path: str | Path) -> Iterator[Path]:
    """Hold ``RUN/.lock`` while training writes the run directory: a second training into it
    is refused (a lock of a dead process is taken over). On taking it, temporary files that
    a killed writer left in the directory are removed. A directory this call created and
    nothing filled is removed again."""
    path = Path(path)
    created = not path.exists()
    lock = DirectoryLock(path / LOCK)
    try:
        lock.__enter__()
    except LockHeld as exc:
        raise CheckpointError(f"{path}: another training (pid {exc.holder.get('pid')} on {exc.holder.get('host')}) "
                              f"is writing this run directory; wait for it to finish, or choose another --out "
                              f"(delete {exc.path} if that process is gone)") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write the run directory ({exc.strerror or exc})") from None
    try:
        remove_stale_temps(path)
        yield path
    finally:
        lock.__exit__(None, None, None)
        if created and path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def load_run_task(run: Run, data: str | None = None, data_dir=None, options: dict | None = None):
    """The task to evaluate (or calibrate) ``run`` on: the run's own by default, or ``data``.
    Refused with a :class:`ConfigError` when its classes differ from the run's (the run's
    classifiers would be scored against other labels, and its records in eval.json replaced),
    or its images do not fit the network's input."""
    from ..data import TASKS, load_task
    from ..data.schemes import scheme_path
    from ..data.tasks import task_options_for_input

    config = run.config
    name, options = task_choice(run, data, options)
    if data is None and scheme_path(name) is None and name not in TASKS:  # trained on a Task in memory
        raise ConfigError(f"run {config.get('run_id')} was trained on task {name!r}, given in Python "
                          "(train_run(task=...)), which cannot be loaded again; pass --data (e.g. npz:PATH "
                          "with the same classes)")
    options = task_options_for_input(name, options, run.graph.input_shape.dims)
    task = load_task(name, data_dir, **options)
    trained = config.get("class_names")
    if trained is not None and list(trained) != list(task.class_names):
        raise ConfigError(f"task {task.name!r} has classes {_names(task.class_names)}, but run {config.get('run_id')} "
                          f"was trained on {config.get('data')!r} with classes {_names(trained)}; "
                          "evaluate it on a task with the same classes")
    task.check_input_shape(run.graph.input_shape.dims)
    return task


def task_choice(run: Run, data: str | None = None, options: dict | None = None) -> tuple[str, dict]:
    """The task name and options that ``data``/``options`` select for ``run``: its own task
    keeps its training options under the ones given; another task gets only those given.

    >>> run = Run(Path("r"), {"data": "synthetic", "data_options": {"n_train": 500}}, None, None)
    >>> task_choice(run, None, {"clutter": 3})
    ('synthetic', {'n_train': 500, 'clutter': 3})
    >>> task_choice(run, "cifar2", {})
    ('cifar2', {})
    """
    own = run.config["data"]
    name = data or own
    base = (run.config.get("data_options") or {}) if name == own else {}
    return name, {**base, **(options or {})}


def is_own_data(run: Run, data: str | None = None, options: dict | None = None) -> bool:
    """Whether ``data``/``options`` select exactly the data ``run`` was trained and evaluated on
    (only that data's results belong in its eval.json)."""
    return task_choice(run, data, options) == (run.config["data"], dict(run.config.get("data_options") or {}))


def run_validation(run: Run, task, on_test_split: bool = False):
    """``(task, split)``: ``task`` with the validation split ``run`` was trained with (config.json's
    ``validation``: the same rows, so they were never trained on) and ``"val"``; a task's own
    val split is never trained on, so it serves any run.

    A run with no held-out images -- one from before validation splits (no ``validation``
    recorded: it trained on every training image) or trained with ``val_fraction`` 0 on a task
    without a val split -- is refused with a :class:`ConfigError` saying what to do, unless
    ``on_test_split``: then ``(task, "test")``, the one split it has not seen. ``on_test_split``
    on a run that has a validation split is refused too (the test split is for ``evaluate``)."""
    setting = run.config.get("validation")
    run_name = f"run {run.config.get('run_id')}"
    held = task.with_validation(setting["val_fraction"], setting["val_max"]) if setting else task
    # a val split of the task's own was never trained on, whatever the run recorded; a carve-out only if recorded
    has_validation = held.val_labels is not None or (setting is not None and len(held.rows("val")) > 0)
    if on_test_split:
        if has_validation:
            raise ConfigError(f"{run_name} has a validation split ({len(held.rows('val'))} images held out from "
                              "training); calibrate on it: drop --on-test-split (the test split is for 'evaluate')")
        return task, "test"
    if has_validation:
        return held, "val"
    why = ("predates validation splits (no 'validation' in its config.json) and trained on every training image"
           if setting is None else f"has no validation images (task {task.name!r} has no val split and the run's "
           f"val_fraction is {setting['val_fraction']})")
    raise ConfigError(f"{run_name} {why}, so no image is held out to calibrate on; retrain it with a validation "
                      "split (the default --val-fraction 0.1), or pass --on-test-split to calibrate on its test split "
                      "(marked not held out: the test accuracy at the picked k_cpt is then no longer independent)")


def _names(names, limit: int = 12) -> str:
    names = list(names)
    return "[" + ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "") + "]"

