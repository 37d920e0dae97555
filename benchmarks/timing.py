"""Timing helpers for the benchmarks: paired, interleaved, median of repeats.

The machine these run on is shared and noisy. Every comparison therefore
times its two sides back to back within a round, alternating which goes
first, and reports the median over rounds of each time and of the per-round
ratio (a slow spell hits both sides of a round alike).
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Callable

import torch


#: The primary clock: "cpu" (``time.process_time``: CPU seconds of this process, which leaves out
#: time spent descheduled while other jobs run; meaningful with one torch thread) or "wall"
#: (``time.perf_counter``). Both are always recorded; the primary one feeds the tables.
CLOCK = {"name": "wall"}


def use_clock(name: str) -> None:
    if name not in ("cpu", "wall"):
        raise ValueError(name)
    CLOCK["name"] = name


def once(fn: Callable[[], object], reps: int = 1, both: bool = False):
    """Median seconds of ``reps`` calls on the primary clock (``both``: (primary, wall))."""
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    primary = statistics.median(cpu if CLOCK["name"] == "cpu" else wall)
    return (primary, statistics.median(wall)) if both else primary


@dataclass
class Paired:
    a: float  # median seconds per call of side a (primary clock)
    b: float
    ratio: float  # median over rounds of a / b (primary clock)
    rounds: int
    ratio_wall: float = float("nan")  # the same on the wall clock

    @property
    def speedup(self) -> float:  # b / a, from the median ratio
        return 1.0 / self.ratio


def paired(fa: Callable[[], object], fb: Callable[[], object], rounds: int = 7, reps: int = 1, warmup: int = 2) -> Paired:
    """Time ``fa`` against ``fb``: ``rounds`` rounds of ``reps`` calls each, order alternating."""
    for _ in range(warmup):
        fa()
        fb()
    ta, tb, ratios, walls = [], [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            a, aw = once(fa, reps, both=True)
            b, bw = once(fb, reps, both=True)
        else:
            b, bw = once(fb, reps, both=True)
            a, aw = once(fa, reps, both=True)
        ta.append(a)
        tb.append(b)
        ratios.append(a / b)
        walls.append(aw / bw)
    return Paired(statistics.median(ta), statistics.median(tb), statistics.median(ratios), rounds,
                  statistics.median(walls))


def interleaved(fns: dict[str, Callable[[], object]], rounds: int = 5, reps: int = 3, warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, timed round-robin (rotating order)."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(once(fns[name], reps))
    return {name: statistics.median(t) for name, t in times.items()}


def peak_gflops(threads: int, n: int = 2048, reps: int = 5) -> float:
    """Best float32 GFLOP/s of an n x n matmul (an estimate of the machine's usable peak)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    best = min(once(lambda: a @ b) for _ in range(reps))  # primary clock
    return 2 * n ** 3 / best / 1e9


def machine_info() -> dict:
    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "python": platform.python_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    try:
        flags = open("/proc/cpuinfo").read()
        info["simd"] = " ".join(f for f in ("avx512f", "avx2", "fma") if f" {f} " in flags)
    except OSError:
        pass
    try:
        info["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     timeout=5).stdout.strip()
    except Exception:
        info["git"] = "?"
    return info


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
