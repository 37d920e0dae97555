"""Training-step benchmarks (issues #7 and #3); results go to the ``## Training step``
section of docs/benchmarks.md (other sections are kept).

Side by side, in one process, timed round-robin (rotating order, median of rounds):

1. **Plain eager PyTorch vs routegraph.** The same network and loss written
   directly in PyTorch here (no routegraph: pyramid, multiscale convs, heads,
   routers, actor loss, TALR, SGD), routegraph's eager mode (``TrainConfig(fast=False)``)
   and routegraph's fast mode (the default). Networks: the static 8-layer chain
   (classifier after layer 8), the actor on the routed 8-layer chain, and the actor
   on the branching tree (specs/branching_3way.yaml, 47 layers; fewer rounds).
   Every side trains on the same batches (``BatchStream.batch(t)``, synthetic
   task, augmentation on); the plain side fetches them synchronously.
2. **Issue #3:** one training step on the 8-layer chain at batch 128 for the actor,
   the pragmatic critic, the optimistic critic and the static full network, in
   eager and in fast mode, with ratios to static in the same mode.
3. **What paid:** fast mode with one feature off at a time (ablation).
4. **Threads:** fast-mode static chain with 1 and with 2 torch threads, and two
   trainings at once (two processes, each with 1 thread and each with 2 threads).

Timing (see benchmarks/timing.py): wall clock by default; every comparison runs
its sides back to back in each round. The machine is shared: the load average is
recorded with the numbers.

    python benchmarks/train_step.py                 # everything, writes docs/benchmarks.md
    python benchmarks/train_step.py --quick --no-docs
    python benchmarks/train_step.py --render docs/benchmark-results/train-step.json --no-docs

The plain-PyTorch side is in benchmarks/plain_train.py, the report in
benchmarks/train_step_report.py. A run that writes the docs also keeps its raw
results in docs/benchmark-results/train-step.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import timing  # noqa: E402
from docs_section import write_section  # noqa: E402
from plain_train import BATCH, K_CPT, LR, PlainStep, PlainTreeNet, plain_runner  # noqa: E402
from timing import machine_info  # noqa: E402
from train_step_report import NOTES, SECTION, fmt_load, render  # noqa: E402

# ============================================================================ routegraph side


def load_graphs():
    from routegraph import compile_spec, load_spec
    from routegraph.graph import static_baseline

    chain = compile_spec(load_spec(ROOT / "specs" / "chain_8layer.yaml"))
    tree = compile_spec(load_spec(ROOT / "specs" / "branching_3way.yaml"))
    return {"static": static_baseline(chain, chain.classifiers[-1]), "chain": chain, "tree": tree}


def routegraph_trainer(graph, method: str, task, fast: bool, **overrides):
    from routegraph import build_model
    from routegraph.train import Trainer, TrainConfig, strategy_from_config

    torch.manual_seed(0)
    config = TrainConfig(method=method, iterations=10 ** 6, batch_size=BATCH, lr=LR, k_cpt=K_CPT, fast=fast,
                         threads=torch.get_num_threads(), **overrides)
    return Trainer(build_model(graph), strategy_from_config(config), task, config=config)


def fit_runner(trainer, steps: int):
    """``steps`` training steps through ``Trainer.fit`` (so fast mode prefetches batches)."""
    def run():
        trainer.fit(until=trainer.iteration + steps)
    return run


def measure(fns: dict, base: str, steps: int, rounds: int, warmup: int = 1) -> dict:
    """Round-robin timing (rotating order) of runners that each run ``steps`` steps.

    Returns the median seconds per step of each runner, the median over rounds of
    its time relative to ``base`` (both timed in the same round), and the load."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    load0 = os.getloadavg()[0]
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(timing.once(fns[name]) / steps)
    ratios = {n: statistics.median(a / b for a, b in zip(times[n], times[base])) for n in names}
    return {"seconds": {n: statistics.median(v) for n, v in times.items()}, "ratio": ratios,
            "load": [load0, os.getloadavg()[0]], "rounds": rounds}


def conv_floor_runner(graph, steps: int):
    """Only the convolutions of one fast-mode training step of ``graph`` (forward and
    backward, same shapes, layout and gradient needs), on random tensors: a bound on
    what any change outside the conv kernels can reach."""
    from torch.overrides import TorchFunctionMode

    from routegraph import build_model
    from routegraph.train.fast import enable_fast_mode

    calls = []

    class Capture(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.conv2d:
                x, w = args[0], args[1]
                calls.append((x.shape, x.stride(), x.requires_grad, w.shape, w.stride(),
                              kwargs.get("padding", args[4] if len(args) > 4 else 0)))
            return func(*args, **kwargs)

    model = enable_fast_mode(build_model(graph))
    with Capture():
        model(torch.rand(BATCH, 3, 32, 32))
    tensors = []
    for x_shape, x_stride, x_grad, w_shape, w_stride, padding in calls:
        x = torch.empty_strided(x_shape, x_stride).normal_().requires_grad_(x_grad)
        w = torch.empty_strided(w_shape, w_stride).normal_().requires_grad_()
        tensors.append((x, w, padding))

    def run():
        for _ in range(steps):
            for x, w, padding in tensors:
                y = F.conv2d(x, w, None, 1, padding)
                y.backward(torch.ones_like(y))
    return run


# ============================================================================ sections


def section_compare(graphs, task, rounds: int, steps: int, tree_rounds: int) -> dict:
    """Plain eager vs routegraph eager vs fast: static chain, actor chain, actor tree."""
    from routegraph.data import BatchStream

    out = {}
    for name, graph, method, plain_kwargs in (
            ("static chain", graphs["static"], "static", {"routed": False}),
            ("actor, routed chain", graphs["chain"], "actor", {}),
            ("actor, branching tree", graphs["tree"], "actor", {"branching": [2, 2, 2, 1, 1, 1, 1, 1]})):
        tree = "tree" in name
        torch.manual_seed(0)
        plain = PlainStep(PlainTreeNet(**plain_kwargs))
        stream = BatchStream(task, batch_size=BATCH, seed=0)
        n_steps = 1 if tree else steps
        fns = {"plain eager": plain_runner(plain, stream, n_steps),
               "routegraph eager": fit_runner(routegraph_trainer(graph, method, task, fast=False), n_steps),
               "routegraph fast": fit_runner(routegraph_trainer(graph, method, task, fast=True), n_steps)}
        if method == "static":
            fns["convolutions alone"] = conv_floor_runner(graph, n_steps)
        r = measure(fns, "plain eager", n_steps, tree_rounds if tree else rounds)
        r["vs_plain"] = {k: 1 / v for k, v in r["ratio"].items()}
        out[name] = r
        print(f"  {name}: " + ", ".join(f"{k} {v * 1e3:.0f} ms ({r['vs_plain'][k]:.2f}x)"
                                        for k, v in r["seconds"].items()) + f"; load {fmt_load(r['load'])}", flush=True)
    return out


def section_strategies(graphs, task, rounds: int, steps: int) -> dict:
    """Issue #3: actor, critics, static full network; ratios to static in the same mode."""
    out = {}
    for fast in (False, True):
        fns = {method: fit_runner(routegraph_trainer(graphs["static" if method == "static" else "chain"], method, task,
                                                     fast=fast), steps)
               for method in ("static", "actor", "pragmatic_critic", "optimistic_critic")}
        r = measure(fns, "static", steps, rounds)
        r["vs_static"] = r["ratio"]
        mode = "fast" if fast else "eager"
        out[mode] = r
        print(f"  {mode}: " + ", ".join(f"{k} {v * 1e3:.0f} ms ({r['vs_static'][k]:.2f}x)"
                                        for k, v in r["seconds"].items()) + f"; load {fmt_load(r['load'])}", flush=True)
    return out


ABLATION = {
    "fast mode (default)": {},
    "without channels-last": {"channels_last": False},
    "without fused multiscale convs": {"fused_convs": False},
    "without fused heads": {"fused_heads": False},
    "prefetch forced on": {"prefetch": True},
    "prefetch forced off": {"prefetch": False},
}


def section_ablation(graphs, task, rounds: int, steps: int) -> dict:
    """Fast mode with one feature switched at a time, in one process; malloc tuning (process-wide)
    in pairs of subprocesses."""
    from routegraph.train import fast as fastmod

    out = {"prefetch by default": fastmod.prefetch_pays()}
    for name, graph, method in (("actor, routed chain", graphs["chain"], "actor"),):
        fns = {}
        for label, switch in ABLATION.items():
            trainer = routegraph_trainer(graph, method, task, fast=True)
            fastmod.enable_fast_mode(trainer.model, **{k: v for k, v in switch.items() if k != "prefetch"})
            run = fit_runner(trainer, steps)
            if "prefetch" in switch:
                def run(trainer=trainer, prefetch=switch["prefetch"]):  # fit's loop, prefetch as asked
                    stop = trainer.iteration + steps
                    trainer._prefetcher = fastmod.BatchPrefetcher(trainer.stream, stop) if prefetch else None
                    try:
                        while trainer.iteration < stop:
                            trainer.step()
                            trainer.iteration += 1
                    finally:
                        if trainer._prefetcher is not None:
                            trainer._prefetcher.close()
                        trainer._prefetcher = None
            fns[label] = run
        ratios = measure(fns, "fast mode (default)", steps, rounds)["ratio"]
        out[name] = ratios
        print(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()), flush=True)
    malloc = {"on": [], "off": []}
    for r in range(max(2, rounds // 2)):
        for key in (("on", "off") if r % 2 == 0 else ("off", "on")):
            env = {"ROUTEGRAPH_NO_MALLOC_TUNING": "1"} if key == "off" else {}
            malloc[key].append(_child_result(_child_steps(torch.get_num_threads(), 8, 2, "actor", env)))
    clock = "cpu" if torch.get_num_threads() == 1 else "median"  # CPU time counts spin-waits with 2 threads
    on = statistics.median(r[clock] for r in malloc["on"])
    off = statistics.median(r[clock] for r in malloc["off"])
    out["malloc"] = {"on": on, "off": off, "clock": "CPU" if clock == "cpu" else "wall-clock",
                     "faults_on": statistics.median(r["faults"] for r in malloc["on"]),
                     "faults_off": statistics.median(r["faults"] for r in malloc["off"]),
                     "sys_on": statistics.median(r["sys"] for r in malloc["on"]),
                     "sys_off": statistics.median(r["sys"] for r in malloc["off"])}
    print(f"  malloc tuning: s/step on {on:.3f}, off {off:.3f}", flush=True)
    return out




def _child_steps(threads: int, steps: int, warmup: int, method: str = "static",
                 env_extra: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **(env_extra or {}))
    return subprocess.Popen([sys.executable, __file__, "--child", str(threads), str(steps), str(warmup), method],
                            stdout=subprocess.PIPE, text=True, env=env)


def _child_result(process: subprocess.Popen) -> dict:
    return json.loads(process.communicate()[0].strip().splitlines()[-1])


def child_main(threads: str, steps: str, warmup: str, method: str) -> None:
    """(subprocess) fast-mode training on the chain (``method`` static: the static chain):
    ``steps`` steps after ``warmup``; prints medians of wall and CPU seconds per step as JSON."""
    import resource

    from routegraph.data import load_task

    threads, steps, warmup = int(threads), int(steps), int(warmup)
    torch.set_num_threads(threads)
    graphs = load_graphs()
    trainer = routegraph_trainer(graphs["static" if method == "static" else "chain"], method,
                                 load_task("synthetic"), fast=True)
    trainer.fit(until=warmup)
    wall, cpu = [], []
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        w, c = time.perf_counter(), time.process_time()
        trainer.fit(until=trainer.iteration + 1)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    end = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"median": statistics.median(wall), "cpu": statistics.median(cpu), "threads": threads,
                      "faults": (end.ru_minflt - usage.ru_minflt) / steps, "sys": (end.ru_stime - usage.ru_stime) / steps}))


THREAD_SETTINGS = {  # label -> (threads per training, extra environment)
    "1 thread": (1, {}),
    "2 threads": (2, {}),
    "2 threads, OMP_WAIT_POLICY=PASSIVE": (2, {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def section_threads(steps: int, rounds: int) -> dict:
    """One training and two trainings at once (separate processes), per thread setting; wall clock."""
    runs = {(label, n): [] for label in THREAD_SETTINGS for n in (1, 2)}
    loads = []
    labels = list(THREAD_SETTINGS)
    for r in range(rounds):
        loads.append(os.getloadavg()[0])
        for label in labels[r % len(labels):] + labels[: r % len(labels)]:
            threads, env = THREAD_SETTINGS[label]
            for n in (1, 2):
                children = [_child_steps(threads, steps, 3, env_extra=env) for _ in range(n)]
                runs[(label, n)].append(statistics.mean(_child_result(c)["median"] for c in children))
        print(f"  round {r}: " + ", ".join(f"{label} x{n}: {v[-1]:.3f}" for (label, n), v in runs.items()), flush=True)
    return {"seconds": {f"{label} x{n}": statistics.median(v) for (label, n), v in runs.items()}, "load": loads}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--threads", default="1,2", help="torch thread counts to compare at, comma-separated (default 1,2)")
    parser.add_argument("--clock", choices=("wall", "cpu"),
                        help="cpu: process CPU time (default with 1 thread: robust to other jobs on the machine); "
                             "wall (default otherwise)")
    parser.add_argument("--rounds", type=int, help="rounds per comparison (default 7, quick 3)")
    parser.add_argument("--steps", type=int, default=3, help="steps per timed call")
    parser.add_argument("--sections", default="compare,strategies,ablation,threads")
    parser.add_argument("--notes", type=Path, help="markdown appended to the section instead of NOTES")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, help="also write the raw results here (a run that writes the docs "
                        "writes them to docs/benchmark-results/train-step.json anyway)")
    parser.add_argument("--render", metavar="JSON", type=Path, help="only re-render the docs section from saved results")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child)
        return 0
    if args.render:
        text = render(json.loads(args.render.read_text()))
        print(text)
        if not args.no_docs:
            write_section(args.docs, text, SECTION)
        return 0

    from routegraph.data import load_task

    thread_counts = [int(t) for t in str(args.threads).split(",")]
    rounds = args.rounds or (3 if args.quick else 7)
    sections = set(args.sections.split(","))
    results = {"started": time.time(), "machine": machine_info(), "per_threads": {}}
    print(f"machine: {results['machine']}", flush=True)
    graphs = load_graphs()
    task = load_task("synthetic")
    for threads in thread_counts:
        torch.set_num_threads(threads)
        timing.use_clock(args.clock or ("cpu" if threads == 1 else "wall"))
        r = results["per_threads"][threads] = {"clock": timing.CLOCK["name"]}
        print(f"== {threads} thread(s), {r['clock']} clock", flush=True)
        if "compare" in sections:
            print("1. plain eager vs routegraph eager vs fast")
            r["compare"] = section_compare(graphs, task, rounds, args.steps, rounds)
        if "strategies" in sections:
            print("2. issue #3: strategies vs static")
            r["strategies"] = section_strategies(graphs, task, rounds, args.steps)
        if "ablation" in sections:
            print("3. ablation")
            r["ablation"] = section_ablation(graphs, task, rounds, args.steps)
    if "threads" in sections:
        print("4. threads")
        results["thread_counts"] = section_threads(5 if args.quick else 8, max(2, rounds // 2))
    results["load_end"] = os.getloadavg()
    results["minutes"] = (time.time() - results["started"]) / 60
    results["notes"] = args.notes.read_text() if args.notes else NOTES
    text = render(results)
    print()
    print(text)
    writes_docs = not args.no_docs and {"compare", "strategies", "ablation", "threads"} <= sections
    saves = [args.json] if args.json else []
    if writes_docs:
        saves.append(ROOT / "docs" / "benchmark-results" / "train-step.json")
        write_section(args.docs, text, SECTION)
    for path in saves:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1, default=str))
        print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
