"""Duration estimates: seconds per training step, from a table, from finished runs, or measured.

Sources, best first:

1. ``runs``: the training speed logged in ``metrics.jsonl`` (``examples_per_s``)
   by runs of the same spec variant, method and exit already in the output
   folder (this sweep's earlier runs; the refinement by measurement);
2. ``measured``: with ``--estimate measure``, a few timed training steps of
   each distinct spec variant / method / exit on random images, in this
   process, before the sweep starts;
3. ``table``: the experiment file's ``seconds_per_step`` table (seconds per
   step at batch 128 of one process using all ``reference_cores`` cores of
   the reference machine, the 2-core development machine).

All are converted to *machine-seconds per step* (seconds of the whole local
machine), assuming time scales linearly with the batch size and inversely
with the number of cores, so that the estimated wall time of a sweep is the
sum over its runs whatever the split into ``--jobs``. Evaluations (a few
seconds per run) are not counted.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from ..runs import read_metrics
from .expand import RunSpec
from .state import read_attempts


@dataclass(frozen=True)
class StepCost:
    seconds: float | None  # machine-seconds per step (None: unknown)
    source: str  # table | runs | measured | unknown


def spec_key(run: RunSpec) -> str:
    """The table key of a run's spec variant: ``chain_8layer`` or ``chain_8layer width=2``."""
    parts = [f"{k}={v}" for k, v in sorted(run.overrides.items()) if k != "num_classes"]
    return " ".join([run.spec_name, *parts])


def cost_key(run: RunSpec) -> tuple:
    return (spec_key(run), run.method, run.kind, run.static_exit, run.train.get("batch_size", 128))


def table_cost(run: RunSpec, table: dict, reference_cores: int, cores: int) -> float | None:
    entry = table.get(spec_key(run))
    if entry is None:
        return None
    entry = entry if isinstance(entry, dict) else entry.model_dump()
    if run.kind == "static":
        value = entry.get("static")
        if isinstance(value, list):
            exit_ = run.static_exit
            index = int(exit_) - 1 if exit_ is not None and str(exit_).isdigit() else len(value) - 1
            value = value[min(max(index, 0), len(value) - 1)] if value else None
    elif run.kind == "dynamic":
        value = entry.get("dynamic") or entry.get("routed")
    elif run.method.endswith("critic"):
        value = entry.get("critic") or entry.get("routed")
    else:
        value = entry.get("routed")
    if value is None:
        return None
    batch = run.train.get("batch_size", 128)
    return float(value) * batch / 128 * reference_cores / max(cores, 1)


def logged_cost(run_dir: Path, out: Path, run_id: str, batch: int, cores: int) -> float | None:
    """Machine-seconds per step from a run's metrics.jsonl and the threads its last attempt used."""
    try:
        records = read_metrics(run_dir)[-40:]
    except (OSError, CheckpointError):
        return None
    speeds = [float(r["examples_per_s"]) for r in records if r.get("examples_per_s")]
    if not speeds:
        return None
    attempts = read_attempts(out, run_id).get("attempts") or [{}]
    threads = attempts[-1].get("threads") or cores
    return batch / statistics.median(speeds) * min(threads, cores) / max(cores, 1)


def measure_cost(run: RunSpec, threads: int, cores: int, steps: int = 2) -> float:
    """Time ``steps`` training steps (after one warm-up step) of ``run``'s network on random images."""
    import torch

    from ..data.task import Task
    from ..nn.model import build_model
    from ..train.loop import Trainer
    from ..train.run import prepare_graph
    from ..train.strategies import strategy_from_config

    config = run.config().with_(iterations=steps + 1, checkpoint_every=0, threads=0)
    classes = int(run.overrides.get("num_classes") or 10)
    previous = torch.get_num_threads()
    torch.set_num_threads(max(threads, 1))
    try:
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
            handle.write(run.spec_text)
            handle.flush()
            graph, _, _ = prepare_graph(handle.name, run.overrides, config, classes)
        shape = tuple(graph.input_shape.dims)
        n = config.batch_size * 2
        generator = torch.Generator().manual_seed(0)
        task = Task("timing", tuple(str(i) for i in range(classes)), (False,) * classes,
                    torch.rand((n, *shape), generator=generator), torch.randint(classes, (n,), generator=generator),
                    torch.rand((8, *shape), generator=generator), torch.randint(classes, (8,), generator=generator))
        torch.manual_seed(0)
        trainer = Trainer(build_model(graph), strategy_from_config(config), task, config=config)
        trainer.fit(until=1)
        started = time.perf_counter()
        trainer.fit(until=steps + 1)
        seconds = (time.perf_counter() - started) / steps
    finally:
        torch.set_num_threads(previous)
    return seconds * min(threads, cores) / max(cores, 1)


def step_costs(runs: list[RunSpec], out: Path, *, table: dict, reference_cores: int, cores: int,
               measure: bool = False, threads: int = 1, todo: set[str] | None = None) -> dict[str, StepCost]:
    """Machine-seconds per step of every run, and where the number came from."""
    logged: dict[tuple, list[float]] = {}
    for run in runs:
        value = logged_cost(Path(out) / run.id, out, run.id, run.train.get("batch_size", 128), cores)
        if value is not None:
            logged.setdefault(cost_key(run), []).append(value)
    measured: dict[tuple, float] = {}
    if measure:
        for run in runs:
            key = cost_key(run)
            if (todo is None or run.id in todo) and key not in logged and key not in measured:
                measured[key] = measure_cost(run, threads, cores)
    costs = {}
    for run in runs:
        key = cost_key(run)
        if key in logged:
            costs[run.id] = StepCost(statistics.median(logged[key]), "runs")
        elif key in measured:
            costs[run.id] = StepCost(measured[key], "measured")
        else:
            value = table_cost(run, table, reference_cores, cores)
            costs[run.id] = StepCost(value, "table" if value is not None else "unknown")
    return costs


def format_duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "?"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes:02d} min"
    return f"{seconds / 86400:.1f} days"


def gpu_table_note(runs: list[RunSpec], costs: dict[str, StepCost]) -> str | None:
    """A warning when estimates from the ``seconds_per_step`` table (the 2-core CPU
    reference machine) meet runs that will train on a GPU, where they run many
    times faster; ``None`` otherwise."""
    if not any(costs.get(run.id, StepCost(None, "")).source == "table" for run in runs):
        return None
    from ..train.distributed import device_type

    if not any(device_type(device) == "cuda" for device in {run.config().device for run in runs}):
        return None
    return ("note: the seconds_per_step table was measured on the 2-core CPU reference machine and these runs train "
            "on a GPU, where they take several times less (about 10x on one H200, docs/experiments.md); "
            "--estimate measure times a few steps here, and the speeds logged by this sweep's runs replace "
            "the table on the next start")
