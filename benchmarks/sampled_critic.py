"""Sampled against dense critic training (issue 22): step time and memory, side by side in one run.

For the 8-layer chain and the branching tree (specs/branching_3way.yaml, 47 leaves), the pragmatic
critic's training step at batch 128, dense (every example runs every layer) and sampled (``--sampled``:
each example runs the path it draws), under two routing mixes set through the routers' last biases
(their weights start at zero, so the policy is exactly what the biases say at the first steps):

* **even**: every junction splits its examples evenly (zero-initialised routers);
* **early**: every junction sends 80 % of its examples to its first sink (the exit, on the chain;
  the first subtree, in the tree), as a net trained at a high k_cpt does.

Measured for each: seconds per step (fast mode, medians of interleaved rounds), the activation
memory the step saves for its backward pass (bytes of the tensors autograd keeps, counted with
``torch.autograd.graph.saved_tensors_hooks``) and the peak resident memory of a fresh process that
runs the step (``VmHWM`` after ``clear_refs``, less the resident memory before the steps).

    python benchmarks/sampled_critic.py [--threads 1 2] [--quick] [--no-docs]

Writes the "## Sampled critics" section of docs/benchmarks.md and docs/benchmark-results/sampled-critic.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from docs_section import publish, save_results  # noqa: E402

HEADING = "## Sampled critics"
NETWORKS = {"8-layer chain": "chain", "branching tree": "tree"}
MIXES = {"even": None, "early": 0.8}
MODES = ("dense", "sampled")


def trainer_for(network: str, mix: str, mode: str, task=None):
    """A pragmatic-critic trainer on ``network`` whose routers start at the routing ``mix``."""
    from routegraph.data import load_task
    from train_step import load_graphs, routegraph_trainer

    graph = load_graphs()[NETWORKS[network]]
    trainer = routegraph_trainer(graph, "pragmatic_critic", task or load_task("synthetic", n_train=2000, n_test=200),
                                 fast=True, sampled=mode == "sampled")
    first = MIXES[mix]
    tau = trainer.config.tau_at(0)
    with torch.no_grad():
        for router in trainer.model.routers.values():
            last = router.layers[-1]
            n = last.out_features
            p = torch.full((n,), 1.0 / n) if first is None else torch.tensor([first] + [(1 - first) / (n - 1)] * (n - 1))
            last.bias.copy_(tau * p.log())  # softmax(bias / tau) == p
    return trainer


def saved_bytes(trainer) -> int:
    """Bytes of the tensors one training step keeps for its backward pass (each storage counted once)."""
    seen, total = set(), [0]

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            total[0] += key[1]
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        trainer.step()
    trainer.iteration += 1
    return total[0]


def section_time(threads: int, rounds: int, steps: int) -> dict:
    from routegraph.data import load_task
    from train_step import fit_runner, measure

    torch.set_num_threads(threads)
    task = load_task("synthetic", n_train=2000, n_test=200)
    out = {}
    for network in NETWORKS:
        for mix in MIXES:
            trainers = {mode: trainer_for(network, mix, mode, task) for mode in MODES}
            r = measure({mode: fit_runner(t, steps) for mode, t in trainers.items()}, "dense", steps, rounds)
            r["speed-up"] = 1 / r["ratio"]["sampled"]
            r["saved_bytes"] = {mode: saved_bytes(t) for mode, t in trainers.items()}
            r["mean_ops"] = {mode: t.step()["mean_ops"] for mode, t in trainers.items()}
            out[f"{network} | {mix}"] = r
            print(f"  {threads} thread(s), {network}, {mix}: dense {r['seconds']['dense'] * 1e3:.0f} ms, sampled "
                  f"{r['seconds']['sampled'] * 1e3:.0f} ms ({r['speed-up']:.2f}x); saved for backward "
                  f"{r['saved_bytes']['dense'] / 2**20:.0f} / {r['saved_bytes']['sampled'] / 2**20:.0f} MiB", flush=True)
    return out


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def child_main(network: str, mix: str, mode: str, steps: str) -> None:
    """(subprocess) the peak resident memory of ``steps`` training steps, beyond what was resident before."""
    torch.set_num_threads(1)
    trainer = trainer_for(network, mix, mode)
    for p in trainer.model.parameters():  # the sampled trainer allocates its gradients up front; so does this
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    trainer.stream.batch(0)
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    trainer.fit(until=int(steps))
    print(json.dumps({"peak_bytes": _status("VmHWM") - before, "process_peak_bytes": _status("VmHWM")}))


def section_memory(steps: int) -> dict:
    out = {}
    for network in NETWORKS:
        for mix in MIXES:
            row = {}
            for mode in MODES:
                done = subprocess.run([sys.executable, __file__, "--child", network, mix, mode, str(steps)],
                                      capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
                if done.returncode:
                    raise SystemExit(done.stderr[-2000:])
                found = json.loads(done.stdout.strip().splitlines()[-1])
                row[mode], row[f"{mode} process"] = found["peak_bytes"], found["process_peak_bytes"]
            out[f"{network} | {mix}"] = row
            print(f"  peak RSS {network}, {mix}: dense {row['dense'] / 2**20:.0f} MiB, sampled "
                  f"{row['sampled'] / 2**20:.0f} MiB", flush=True)
    return out


def render(results: dict) -> str:
    mib = 2 ** 20
    lines = [HEADING, "",
             f"`python benchmarks/sampled_critic.py` ({results['when']}): {results['machine']}, torch "
             f"{results['torch']}. The pragmatic critic's training step at batch 128, dense against sampled "
             "(`--sampled`, docs/training.md \"Sampled critics\"), fast mode, synthetic images; times are medians of "
             "interleaved rounds. *even*: every junction splits its examples evenly; *early*: every junction sends "
             "80 % to its first sink (the exit on the chain). Mean ops: what the examples of one step ran (the "
             "sampled paths; for the dense step, the argmax paths it would take at inference).", "",
             "| threads | network | routing | dense ms/step | sampled ms/step | speed-up | saved for backward, dense "
             "| sampled | ratio | mean ops of the step, sampled |", "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for t, rows in results["time"].items():
        for key, r in rows.items():
            network, mix = key.split(" | ")
            b = r["saved_bytes"]
            lines.append(f"| {t} | {network} | {mix} | {r['seconds']['dense'] * 1e3:.0f} | "
                         f"{r['seconds']['sampled'] * 1e3:.0f} | {r['speed-up']:.2f}x | {b['dense'] / mib:.0f} MiB | "
                         f"{b['sampled'] / mib:.0f} MiB | {b['dense'] / max(b['sampled'], 1):.1f}x | "
                         f"{r['mean_ops']['sampled'] / 1e6:.2f} M |")
    if results.get("memory"):
        lines += ["", f"Peak resident memory of {results['memory_steps']} training steps in a fresh process per cell "
                  "(1 thread): beyond what was resident before the first step (the model, its gradients, the data and "
                  "torch), and the process's whole peak (`VmHWM`):", "",
                  "| network | routing | step peak, dense | sampled | ratio | process peak, dense | sampled |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for key, row in results["memory"].items():
            network, mix = key.split(" | ")
            lines.append(f"| {network} | {mix} | {row['dense'] / mib:.0f} MiB | {row['sampled'] / mib:.0f} MiB | "
                         f"{row['dense'] / max(row['sampled'], 1):.1f}x | {row['dense process'] / mib:.0f} MiB | "
                         f"{row['sampled process'] / mib:.0f} MiB |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test, not results)")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    from routegraph.nn.precision import machine

    rounds, steps = (1, 1) if args.quick else (5, 2)
    results = {"when": time.strftime("%Y-%m-%d"), "machine": machine(), "torch": torch.__version__, "time": {}}
    for t in args.threads:
        print(f"{t} thread(s)")
        results["time"][str(t)] = section_time(t, rounds, steps)
    results["memory_steps"] = steps + 1
    results["memory"] = section_memory(steps + 1)
    if not args.no_docs:
        save_results(HERE.parent / "docs" / "benchmark-results" / "sampled-critic.json", results)
    publish(render(results), HERE.parent / "docs" / "benchmarks.md", HEADING, write=not args.no_docs)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_main(*sys.argv[2:6])
    else:
        sys.exit(main())
