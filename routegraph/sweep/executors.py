"""Executors: where the runs of a sweep train.

- :class:`LocalExecutor` (default): ``--jobs N`` processes on this machine,
  each with ``torch.set_num_threads(cores // N)`` threads, from a
  ``concurrent.futures.ProcessPoolExecutor`` with the 'spawn' start method.
  ``--jobs 1`` trains in the sweep's own process. A worker that dies (killed,
  out of memory) breaks the pool; its runs are resubmitted to a fresh pool and
  resume from their last checkpoints, at most ``max_retries`` times.
- :class:`RayExecutor` (``--executor ray``): one Ray task per run with the
  run's resource request (``num_cpus``, ``num_gpus``); Ray retries a failed or
  killed task (``max_retries``, ``retry_exceptions=True``), and every attempt
  resumes from the run's last checkpoint. Ray is optional
  (``pip install 'routegraph[ray]'``).

Both call :func:`execute_run`, a pure function of its payload (a run, the
output folder, the data folder, the threads): no global state, runs addressed
by their stable ids. An executor reports through a callback
``on_result(run_id, result_or_None, error_or_None)``.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable

from ..errors import ConfigError, RouteGraphError

OnResult = Callable[[str, "dict | None", "str | None"], None]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------- one run
def execute_run(payload: dict) -> dict:
    """Train (or resume) one run and evaluate it; returns a short summary.

    ``payload``: ``{"run": RunSpec.to_json(), "out": str, "data_dir": str | None,
    "threads": int}``. Always resumes: a run with a checkpoint continues from
    it, a finished run only re-evaluates if its eval.json is missing.
    """
    import torch

    from ..train.run import train_run
    from .expand import RunSpec
    from .state import finish_attempt, record_attempt

    run = RunSpec.from_json(payload["run"])
    out = Path(payload["out"])
    run_dir = out / run.id
    threads = int(payload.get("threads") or 0)
    if threads:
        torch.set_num_threads(threads)
    record_attempt(out, run.id, threads=torch.get_num_threads(), executor=payload.get("executor", "local"))
    started = time.perf_counter()
    try:
        spec_path = _spec_file(run, out)
        result = train_run(spec_path, run_dir, run.config(), data=run.data, data_dir=payload.get("data_dir"),
                           data_options=run.data_options or None, overrides=dict(run.overrides), resume=True,
                           progress=False, label=run.label)
    except BaseException as exc:
        finish_attempt(out, run.id, error=f"{type(exc).__name__}: {exc}")
        raise
    annotate_run(run_dir, run)
    seconds = time.perf_counter() - started
    finish_attempt(out, run.id, seconds=seconds)
    evaluations = result.evaluations
    own = evaluations[len(evaluations) // 2] if evaluations else {}
    recorded = result.config.get("run_id")
    return {"id": run.id, "seconds": seconds, "error_rate": own.get("error_rate"), "mean_ops": own.get("mean_ops"),
            "recorded_run_id": recorded, "host": os.uname().nodename, "pid": os.getpid()}


def _spec_file(run, out: Path) -> str:
    """The spec path as planned if it holds the planned text here, else a copy under ``<out>/.sweep/specs``."""
    path = Path(run.spec)
    try:
        if path.read_text(encoding="utf-8") == run.spec_text:
            return run.spec
    except OSError:
        pass
    digest = hashlib.sha256(run.spec_text.encode()).hexdigest()[:8]
    copy = out / ".sweep" / "specs" / f"{path.stem}-{digest}.yaml"
    if not copy.exists():
        from ..io import atomic_write_text

        atomic_write_text(copy, run.spec_text)
    return str(copy)


def annotate_run(run_dir: Path, run) -> None:
    """Record the sweep's curve label and provenance in the run's config.json (read by plot/report)."""
    from ..runs import read_config, write_config

    config = read_config(run_dir)
    wanted = {"label": run.label, "experiment": run.experiment, "group": run.group, "tier": run.tier}
    if any(config.get(k) != v for k, v in wanted.items()):
        config.update(wanted)
        write_config(run_dir, config)


def _init_worker(threads: int, parent: int) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose sweep process died (killed) stops too, so no orphan keeps writing a run."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None and type(cause).__name__ == "_RemoteTraceback":
        lines = [line for line in str(cause).strip().splitlines() if line.strip()]
        text += "\n" + "\n".join(lines[-6:])
    return text


def gpu_sharing_note(jobs: int, gpus: int) -> str:
    """What the executor line says when several runs share the GPUs (runs train on a GPU
    when there is one).

    >>> gpu_sharing_note(1, 1), gpu_sharing_note(8, 0)
    ('', '')
    """
    if jobs <= 1 or gpus == 0:
        return ""
    return (f"; the {jobs} jobs share {gpus} GPU{'s' if gpus > 1 else ''}: with NVIDIA MPS running "
            "(nvidia-cuda-mps-control -d) their kernels run side by side (1.6x measured, docs/experiments.md)")


# ----------------------------------------------------------------------------- local
class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int = 1, threads: int | None = None, max_retries: int = 2, fail_fast: bool = False):
        if jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.threads = threads or max(1, available_cores() // jobs)
        self.max_retries = max_retries
        self.fail_fast = fail_fast

    def describe(self) -> str:
        import torch

        where = "in this process" if self.jobs == 1 else "processes ('spawn')"
        return f"local: {self.jobs} job{'s' if self.jobs > 1 else ''} {where} x {self.threads} torch thread" \
               f"{'s' if self.threads > 1 else ''} ({available_cores()} cores)" \
               + gpu_sharing_note(self.jobs, torch.cuda.device_count())

    def to_json(self) -> dict:
        return {"name": self.name, "jobs": self.jobs, "threads": self.threads, "max_retries": self.max_retries}

    def run(self, payloads: list[dict], on_result: OnResult, on_start: Callable[[str], None] | None = None) -> None:
        for p in payloads:
            p["threads"], p["executor"] = self.threads, self.name
        if self.jobs == 1:
            self._inline(payloads, on_result, on_start)
        else:
            self._pool(payloads, on_result, on_start)

    def _inline(self, payloads, on_result, on_start) -> None:
        import torch

        previous = torch.get_num_threads()
        try:
            for payload in payloads:
                run_id = payload["run"]["id"]
                if on_start:
                    on_start(run_id)
                try:
                    result = execute_run(payload)
                except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
                    on_result(run_id, None, f"{type(exc).__name__}: {exc}\n{_short_traceback()}")
                    if self.fail_fast:
                        return
                else:
                    on_result(run_id, result, None)
        finally:
            torch.set_num_threads(previous)

    def _pool(self, payloads, on_result, on_start) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        queue = list(payloads)
        breaks: dict[str, int] = {}
        context = multiprocessing.get_context("spawn")
        while queue:
            broken: list[dict] = []
            pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(queue)), mp_context=context,
                                       initializer=_init_worker, initargs=(self.threads, os.getpid()))
            try:
                futures = {pool.submit(execute_run, p): p for p in queue}
                queue = []
                for future in as_completed(futures):
                    payload = futures[future]
                    run_id = payload["run"]["id"]
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken.append(payload)
                    except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
                        on_result(run_id, None, _describe_error(exc))
                        if self.fail_fast:
                            pool.shutdown(wait=False, cancel_futures=True)
                            return
                    else:
                        on_result(run_id, result, None)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            else:
                pool.shutdown(wait=True)
            for payload in broken:  # a worker died: every run it took down resumes from its checkpoint
                run_id = payload["run"]["id"]
                breaks[run_id] = breaks.get(run_id, 0) + 1
                if breaks[run_id] > self.max_retries:
                    on_result(run_id, None, f"worker process died {breaks[run_id]} times (killed or out of memory); "
                                            f"gave up after max_retries={self.max_retries}")
                else:
                    queue.append(payload)


def _short_traceback() -> str:
    lines = traceback.format_exc().strip().splitlines()
    return "\n".join(lines[-6:])


# ----------------------------------------------------------------------------- ray
class RayExecutor:
    """One Ray task per run; see the module docstring and docs/scale-out.md."""

    name = "ray"

    def __init__(self, address: str | None = None, max_retries: int = 3, num_cpus: float | None = None,
                 num_gpus: float | None = None, fail_fast: bool = False, init_options: dict | None = None):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'routegraph[ray]' "
                              "(or pip install 'ray[default]')") from None
        self.address = address
        self.max_retries = max_retries
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.fail_fast = fail_fast
        self.init_options = dict(init_options or {})

    def describe(self) -> str:
        where = self.address or "a new local Ray instance (or the one RAY_ADDRESS names)"
        return f"ray: {where}, max_retries={self.max_retries}"

    def to_json(self) -> dict:
        return {"name": self.name, "address": self.address, "max_retries": self.max_retries,
                "num_cpus": self.num_cpus, "num_gpus": self.num_gpus}

    def resources(self, payload: dict) -> dict:
        res = payload["run"].get("resources") or {}
        return {"num_cpus": self.num_cpus if self.num_cpus is not None else res.get("num_cpus", 1),
                "num_gpus": self.num_gpus if self.num_gpus is not None else res.get("num_gpus", 0)}

    def run(self, payloads: list[dict], on_result: OnResult, on_start: Callable[[str], None] | None = None) -> None:
        import ray

        started_here = False
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_options)
            started_here = True
        remote = ray.remote(execute_run)
        refs = {}
        try:
            for payload in payloads:
                res = self.resources(payload)
                payload["threads"] = max(1, int(res["num_cpus"]))
                payload["executor"] = self.name
                ref = remote.options(num_cpus=res["num_cpus"], num_gpus=res["num_gpus"],
                                     max_retries=self.max_retries, retry_exceptions=True,
                                     name=f"routegraph:{payload['run']['id']}").remote(payload)
                refs[ref] = payload["run"]["id"]
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                for ref in ready:
                    run_id = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...
                        on_result(run_id, None, f"failed after {self.max_retries} retries: "
                                                f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}")
                        if self.fail_fast:
                            raise _Stop() from None
                    else:
                        on_result(run_id, result, None)
        except _Stop:
            pass
        finally:
            for ref in refs:  # interrupted: cancel what is left; checkpoints let them resume later
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001
                    pass
            if started_here:
                ray.shutdown()


class _Stop(RouteGraphError):
    """Internal: leaves the wait loop once the sweep is stopped."""


def make_executor(name: str, *, jobs: int = 1, threads: int | None = None, max_retries: int | None = None,
                  address: str | None = None, num_cpus: float | None = None, num_gpus: float | None = None,
                  fail_fast: bool = False):
    if name == "local":
        if address:
            raise ConfigError("--address is for --executor ray")
        return LocalExecutor(jobs, threads, 2 if max_retries is None else max_retries, fail_fast)
    if name == "ray":
        return RayExecutor(address, 3 if max_retries is None else max_retries, num_cpus, num_gpus, fail_fast)
    raise ConfigError(f"unknown executor {name!r} (known: local, ray)")


def executors() -> Iterable[str]:
    return ("local", "ray")
