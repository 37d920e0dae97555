"""What is on disk: each run's status, the ``sweep.json`` index, and the sweep lock.

A run is *done* when its directory holds ``eval.json`` (with an evaluation at
every k_cpt the run is evaluated at) and a checkpoint at the configured number
of iterations; *partial* when it has a checkpoint short of that (the sweep
resumes it); *started* when it has a ``config.json`` but no checkpoint yet;
*pending* when there is nothing. A directory whose ``config.json`` names
another run id is a *conflict* and is never touched.

Bookkeeping the sweep keeps beside the runs lives in ``<out>/.sweep/``
(per-run attempt records, copies of specs for remote workers, the lock).
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import CheckpointError, ConfigError
from ..io import DirectoryLock, LockHeld, atomic_write_json
from ..runs import CHECKPOINT, CONFIG, read_evaluations, read_json

SWEEP_FORMAT = "routegraph.sweep/1"
INDEX = "sweep.json"
BOOKKEEPING = ".sweep"

DONE, PARTIAL, STARTED, PENDING, CONFLICT, FAILED, RUNNING = (
    "done", "partial", "started", "pending", "conflict", "failed", "running")


@dataclass
class RunState:
    status: str
    iteration: int = 0
    error_rate: float | None = None
    mean_ops: float | None = None
    note: str = ""

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def run_state(run_dir: Path, run) -> RunState:
    """The status of ``run`` (a RunSpec) in ``run_dir``."""
    run_dir = Path(run_dir)
    config_file, checkpoint = run_dir / CONFIG, run_dir / CHECKPOINT
    if config_file.exists():
        try:
            config = read_json(config_file)
        except (OSError, CheckpointError):  # unreadable: training it again reports why
            config = None
        recorded = config.get("run_id") if isinstance(config, dict) else None
        if recorded is not None and recorded != run.id:
            return RunState(CONFLICT, note=f"{config_file} belongs to run {recorded}, not {run.id}")
    if not checkpoint.exists():
        return RunState(STARTED if config_file.exists() else PENDING)
    iteration = checkpoint_iteration(checkpoint)
    if iteration is None:
        return RunState(STARTED, note="unreadable checkpoint (resuming will report why)")
    if iteration >= run.iterations:
        evaluation = _evaluation(run_dir, run)
        if evaluation is not None:
            return RunState(DONE, iteration, evaluation.get("error_rate"), evaluation.get("mean_ops"))
        return RunState(PARTIAL, iteration, note="trained; evaluation missing")
    return RunState(PARTIAL, iteration)


def checkpoint_iteration(path: Path) -> int | None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return int(state["iteration"])
    except Exception:  # noqa: BLE001 - a corrupt or foreign file: not a usable checkpoint
        return None


def _evaluation(run_dir: Path, run) -> dict | None:
    """The run's own evaluation (middle of the set for a dynamic run) if eval.json covers every k_cpt needed."""
    try:
        records = read_evaluations(run_dir).get("evaluations", [])
    except (OSError, CheckpointError):
        return None
    if run.kind == "static":  # no routing: one evaluation, whatever k_cpt it names
        return records[0] if records else None
    if run.k_cpt is None:
        needed = list(run.train.get("k_cpt_set") or [])
    else:
        needed = [run.k_cpt]
    found = []
    for k in needed:
        match = next((r for r in records if r.get("k_cpt") is not None
                      and math.isclose(float(r["k_cpt"]), float(k), rel_tol=1e-9, abs_tol=1e-18)), None)
        if match is None:
            return None
        found.append(match)
    return found[len(found) // 2] if found else None


# ----------------------------------------------------------------------------- the index
def read_index(out: Path) -> dict:
    try:
        return json.loads((Path(out) / INDEX).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{Path(out) / INDEX}: unreadable sweep index ({exc}); move it away to start afresh") from None


def check_budget_matches(out: Path, budget_name: str, experiment: str) -> None:
    """Refuse to mix budgets (or experiments) in one output folder: their runs would share curves."""
    index = read_index(out)
    if not index:
        return
    previous = (index.get("budget") or {}).get("name")
    if previous and previous != budget_name:
        raise ConfigError(f"{out} holds a sweep with budget {previous!r}; runs of budget {budget_name!r} would "
                          f"be drawn on the same curves. Use another --out (e.g. {out}-{budget_name}).")
    if index.get("experiment") and index["experiment"] != experiment:
        raise ConfigError(f"{out} holds the sweep of experiment {index['experiment']!r}, not {experiment!r}; "
                          f"use another --out")


def write_index(out: Path, header: dict, entries: dict[str, dict]) -> dict:
    """Write ``sweep.json`` atomically: ``header`` plus one entry per run (earlier selections kept)."""
    previous = read_index(out)
    merged = {e["id"]: e for e in previous.get("runs", []) if e.get("id") not in entries}
    for e in merged.values():
        e.setdefault("selected", False)
        e["selected"] = False
    merged.update(entries)
    counts: dict[str, int] = {}
    for e in merged.values():
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    data = {"format": SWEEP_FORMAT, **header, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "counts": counts, "runs": list(merged.values())}
    atomic_write_json(Path(out) / INDEX, data)
    return data


# ----------------------------------------------------------------------------- attempt records
def attempts_file(out: Path, run_id: str) -> Path:
    return Path(out) / BOOKKEEPING / "runs" / f"{run_id}.json"


def read_attempts(out: Path, run_id: str) -> dict:
    try:
        return json.loads(attempts_file(out, run_id).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def record_attempt(out: Path, run_id: str, **info) -> dict:
    """Append an attempt (host, pid, threads, start time) to the run's record; returns the record."""
    record = read_attempts(out, run_id)
    attempts = record.setdefault("attempts", [])
    attempts.append({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), **info})
    atomic_write_json(attempts_file(out, run_id), record)
    return record


def finish_attempt(out: Path, run_id: str, **info) -> None:
    record = read_attempts(out, run_id)
    if record.get("attempts"):
        record["attempts"][-1].update({"ended": time.time(), **info})
        atomic_write_json(attempts_file(out, run_id), record)


# ----------------------------------------------------------------------------- the lock
class SweepLock:
    """One sweep at a time per output folder (``<out>/.sweep/lock``); stale locks of dead local
    processes are taken over (the shared :class:`routegraph.io.DirectoryLock`)."""

    def __init__(self, out: Path):
        self.path = Path(out) / BOOKKEEPING / "lock"
        self._lock = DirectoryLock(self.path)

    def __enter__(self) -> "SweepLock":
        try:
            self._lock.__enter__()
        except LockHeld as exc:
            raise ConfigError(f"another sweep (pid {exc.holder.get('pid')} on {exc.holder.get('host')}) is writing "
                              f"{self.path.parent.parent}; wait for it, or delete {self.path} if it is gone") from None
        return self

    def __exit__(self, *exc) -> None:
        self._lock.__exit__(*exc)
