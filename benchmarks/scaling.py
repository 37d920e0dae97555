"""Data-parallel scaling on this machine: one training process against N torchrun processes.

    python benchmarks/scaling.py                 # 1 process x 2 threads vs 2 processes x 1 thread
    python benchmarks/scaling.py --steps 20 --rounds 1 --no-docs

Each side is a real ``routegraph train`` (the actor on the 8-layer chain, batch
128 global, the built-in synthetic task); the sides alternate over rounds, and
each reports the median training throughput of its steps after a warm-up
(``examples_per_s`` in metrics.jsonl: the global batch over the step's wall
time). The multi-process sides run with global batch norm (the default) and
with per-process batch norm (``--no-sync-batch-norm``); for each, the table
gives how far its weights end from the one-process run's (same seed, same
global batches). Results go to the "## Data-parallel scaling" section of
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from docs_section import publish  # noqa: E402

SECTION = "## Data-parallel scaling"
WARMUP = 5


def train(out: Path, processes: int, threads: int, steps: int, *extra: str) -> float:
    """Median examples/s of one training after its warm-up steps."""
    args = ["specs/chain_8layer.yaml", "--strategy", "actor", "--k-cpt", "4e-9", "--iterations", str(steps),
            "--threads", str(threads), "--device", "cpu", "--log-every", "1", "--checkpoint-every", str(10 * steps),
            "--data", "synthetic", "--data-option", "n_train=2048", "--data-option", "n_test=64", "--no-progress",
            "--out", str(out), *extra]
    if processes == 1:
        command = [sys.executable, "-m", "routegraph", "train", *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
                   "-m", "routegraph", "train", *args]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    speeds = [json.loads(line).get("examples_per_s") for line in (out / "metrics.jsonl").read_text().splitlines()]
    speeds = [s for s in speeds if s][WARMUP:]
    return statistics.median(speeds)


def weight_deviation(run: Path, reference: Path) -> float:
    """Relative L2 distance of a run's final weights from the reference run's."""

    from routegraph.train.checkpoint import load_checkpoint

    a, b = (load_checkpoint(p / "checkpoint.pt")["model"] for p in (run, reference))
    keys = [k for k in a if a[k].is_floating_point() and "running" not in k]
    diff = sum(float((a[k].float() - b[k].float()).pow(2).sum()) for k in keys)
    norm = sum(float(b[k].float().pow(2).sum()) for k in keys)
    return (diff / norm) ** 0.5


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    sides = {f"1 process x {args.cores} threads": (1, args.cores, ()),
             "1 process x 1 thread": (1, 1, ()),  # its weights show what float rounding alone does
             f"{args.cores} processes x 1 thread, global BN": (args.cores, 1, ()),
             f"{args.cores} processes x 1 thread, per-process BN": (args.cores, 1, ("--no-sync-batch-norm",))}
    speeds: dict[str, list[float]] = {name: [] for name in sides}
    deviation: dict[str, float] = {}
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i, name in (list(enumerate(sides)) if r % 2 == 0 else list(enumerate(sides))[::-1]):
                processes, threads, extra = sides[name]
                speed = train(Path(tmp) / f"{r}-{i}", processes, threads, args.steps, *extra)
                speeds[name].append(speed)
                print(f"round {r + 1}: {name}: {speed:.0f} examples/s", flush=True)
        for i, name in enumerate(sides):
            deviation[name] = weight_deviation(Path(tmp) / f"0-{i}", Path(tmp) / "0-0")
    one, _, many, local = (statistics.median(speeds[name]) for name in sides)
    names = list(sides)
    lines = [SECTION, "",
             f"Written by `python benchmarks/scaling.py` ({time.strftime('%Y-%m-%d')}, {args.cores} cores, "
             f"load {load[0]:.1f} at start; {args.rounds} rounds of {args.steps} steps, sides alternating). "
             "Actor on the 8-layer chain, global batch 128, CPU, gloo.", "",
             "| setting | examples/s in total | per process | total vs. one process | weights vs. one process |",
             "|---|---|---|---|---|"]
    for name, (processes, _, _) in sides.items():
        total = statistics.median(speeds[name])
        lines.append(f"| {name} | {total:.0f} | {total / processes:.0f} | {total / one:.2f}x | "
                     f"{deviation[name]:.1e} |")
    verdict = "pays" if many > 1.05 * one else "does not pay"
    lines += ["", f"On this machine data parallelism {verdict}: {args.cores} torchrun processes give {many / one:.2f}x the "
              "throughput of one process using every core (the processes all-reduce every gradient and every "
              f"batch-norm statistic each step). Per-process batch norm gives {local / many:.2f}x the speed of global "
              "batch norm but is a different computation: after "
              f"{args.steps} steps its weights are {deviation[names[3]]:.1e} (relative L2) from one process's, against "
              f"{deviation[names[2]]:.1e} with global batch norm and {deviation[names[1]]:.1e} for one process with "
              "1 thread instead of 2 (float rounding alone, amplified by training)."]
    text = "\n".join(lines) + "\n"
    publish(text, args.docs, SECTION, write=not args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
