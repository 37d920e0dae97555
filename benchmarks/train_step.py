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
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import timing  # noqa: E402
from chain import DirectMultiscale  # noqa: E402  (plain PyTorch, like everything in the block below)
from docs_section import write_section  # noqa: E402
from timing import machine_info  # noqa: E402

SECTION = "## Training step"
BATCH = 128
LR, MOMENTUM, K_L2, K_DEC, TAU, EPS_BN = 0.01, 0.9, 1e-4, 0.01, 1.0, 1e-6
K_CPT = 4e-9


# ============================================================================ plain PyTorch
# Everything in this block is written directly in PyTorch: no routegraph import.

CHAIN = [(16, 4), (16, 4), (32, 3), (32, 3), (64, 2), (64, 2), (128, 1), (128, 1)]  # (channels, scales)


class PlainMultiscale(DirectMultiscale):
    """One multiscale layer: lateral conv per scale, + vertical conv of the pooled finer output; BN; ReLU."""

    def __init__(self, cins: list[int], cout: int):
        super().__init__(cins, [cout] * len(cins), eps=EPS_BN)
        for conv in [*self.lateral, *self.vertical]:
            nn.init.xavier_uniform_(conv.weight)


def plain_router(features: int, sinks: int) -> nn.Sequential:
    last = nn.Linear(16, sinks)
    nn.init.zeros_(last.weight)
    return nn.Sequential(nn.Linear(features, 16), nn.BatchNorm1d(16, eps=EPS_BN), nn.ReLU(),
                         nn.Linear(16, 16), nn.BatchNorm1d(16, eps=EPS_BN), nn.ReLU(), last)


class PlainNode(nn.Module):
    """A layer of the tree, its classifier and (if it has children) its router over
    {classify here, child 1, ..., child k}."""

    def __init__(self, depth: int, cins: list[int], branching: list[int], classes: int = 10):
        super().__init__()
        channels, scales = CHAIN[depth]
        cins = cins[-scales:]
        self.layer = PlainMultiscale(cins, channels)
        side = 32 // 2 ** (4 - scales)  # finest output scale
        sizes = [side // 2 ** i for i in range(scales)]
        self.ops = sum(s * s * 9 * (c + (channels if i else 0)) * channels for i, (s, c) in enumerate(zip(sizes, cins)))
        features = channels * 16
        self.classifier = nn.Linear(features, classes)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)
        n_children = branching[depth] if depth + 1 < len(CHAIN) else 0
        self.children_ = nn.ModuleList(PlainNode(depth + 1, [channels] * scales, branching, classes)
                                       for _ in range(n_children))
        self.router = plain_router(features, n_children + 1) if n_children else None


class PlainTreeNet(nn.Module):
    """The chain (branching 1 everywhere) or the branching tree (3-way after layers 1-3)."""

    def __init__(self, branching: list[int] | None = None, routed: bool = True, classes: int = 10):
        super().__init__()
        branching = branching or [1] * len(CHAIN)
        self.root = PlainNode(0, [3, 3, 3, 3], branching if routed else [1] * len(CHAIN), classes)
        self.routed = routed
        if not routed:  # the static chain: no routers, one classifier after layer 8
            node = self.root
            while node is not None:
                node.router = None
                if node.children_:
                    node.classifier = None
                node = node.children_[0] if node.children_ else None

    def nodes(self):
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children_)

    def forward(self, x):
        """Yields per node: (node, logits or None, router scores or None)."""
        levels = [x] + [F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False) for s in (16, 8, 4)]
        results = []
        stack = [(self.root, levels)]
        while stack:
            node, inputs = stack.pop()
            outputs = node.layer(inputs[-len(node.layer.lateral):])
            desc = outputs[-1].flatten(1)
            logits = node.classifier(desc) if node.classifier is not None else None
            scores = node.router(desc) if node.router is not None else None
            results.append((node, logits, scores))
            stack.extend((child, outputs) for child in node.children_)
        return results


class PlainStep:
    """One SGD step of the plain network: static cross-entropy or the actor loss
    (expected error + k_cpt * expected ops + k_dec * decisiveness) + c_mod, TALR."""

    def __init__(self, net: PlainTreeNet):
        self.net = net
        self.optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
        self.nodes = list(net.nodes())
        self.own = {}  # node -> (its conv/linear weights, all its parameters), children excluded
        for node in self.nodes:
            parts = [node.layer, node.classifier, node.router]
            params = [p for part in parts if part is not None for p in part.parameters()]
            weights = [m.weight for part in parts if part is not None for m in part.modules()
                       if isinstance(m, (nn.Conv2d, nn.Linear))]
            self.own[id(node)] = (weights, params)

    def __call__(self, images, labels):
        net = self.net
        results = net(images)
        p = {id(net.root): images.new_ones(len(labels))}
        loss = images.new_zeros(len(labels))
        reach = {}
        for node, logits, scores in results:  # parents come before children
            p_node = p[id(node)]
            reach[id(node)] = p_node
            loss = loss + p_node * K_CPT * node.ops
            if scores is None:  # static: the only child gets all of p
                if logits is not None:
                    loss = loss + p_node * F.cross_entropy(logits, labels, reduction="none")
                for child in node.children_:
                    p[id(child)] = p_node
                continue
            pi = torch.softmax(scores / TAU, dim=1)
            loss = loss + p_node * pi[:, 0] * F.cross_entropy(logits, labels, reduction="none")
            loss = loss + K_DEC * p_node.detach() * scores.pow(2).sum(1)
            for i, child in enumerate(node.children_):
                p[id(child)] = p_node * pi[:, i + 1]
        loss = loss.mean()
        c_mod = 0.0
        for node in self.nodes:
            weights, _ = self.own[id(node)]
            c_mod = c_mod + reach[id(node)].detach().mean() * sum(w.pow(2).sum() for w in weights)
        loss = loss + K_L2 * c_mod
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():  # TALR: node gradients times 1 / rms(p)
            for node in self.nodes:
                scale = reach[id(node)].pow(2).mean().rsqrt().item()
                if scale != 1.0:
                    for param in self.own[id(node)][1]:
                        if param.grad is not None:
                            param.grad.mul_(scale)
        self.optimizer.step()
        return loss.item()


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


def plain_runner(step: PlainStep, stream, steps: int):
    state = {"t": 0}

    def run():
        for _ in range(steps):
            images, labels = stream.batch(state["t"])
            step(images, labels)
            state["t"] += 1
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


NOTES = """### What fast mode does, and what was tried

Fast mode (`TrainConfig.fast`, on by default; `--no-fast` for the plain mode; `routegraph/train/fast.py`):
channels-last weights and activations; each coarser scale of a multiscale conv as ONE conv over
`[input_k, maxpool(output_{k-1})]` with the lateral and vertical weights concatenated along input channels
(same multiply-accumulates; `FlopCounterMode` counts the same), ReLU in place; the classifier and the routers'
first linear layers that read one descriptor as one matmul; glibc `mallopt` so that freed activations stay in
the heap instead of being unmapped and faulted in again every step; the next batch prepared in a background
thread, only when torch leaves a core free. Plain and fast mode share parameters, names and checkpoints. In
both modes the loss computes every classifier's cross-entropy in one batched call.

- **Channels-last** is what pays: 1.2-1.3x on its own ("without channels-last" rows).
- **Malloc tuning**: page faults per step drop from thousands to a few hundred and the kernel time they cost
  with them (the last row: the separate-process timing itself is noisier than the effect).
- **Fused multiscale convs, fused heads**: within the noise of this shared machine (+-3%; in a separate
  15-round A/B, 0-3% faster, never measurably slower). Kept: the same arithmetic in fewer kernels.
- **Prefetching the next batch**: a batch takes ~3 ms, ~1% of a step, so there is little to hide. With every
  core busy in the step the prefetch thread takes a core from an OpenMP team, whose barrier then waits for it;
  so it runs only when torch uses fewer threads than there are cores. Within noise either way.
- **`torch.compile`** (inductor, default mode) of the fast model's dense forward and its backward, measured
  separately (static chain, 1 thread, load ~1-2): *slower*, 0.338 vs 0.302 s and 0.376 vs 0.317 s per step in
  two runs, after 99 s of compilation with an empty cache and 9.6 s with inductor's FX graph cache warm
  (`torch._inductor.config.fx_graph_cache` is on by default in torch 2.13, cache in `/tmp/torchinductor_$USER`;
  the AOT-autograd cache is on too). Inductor's kernels for max-pool backward and training-mode batch norm on
  channels-last maps are slower than ATen's on this CPU, and the convolutions, most of the step, stay oneDNN
  calls either way. Not used, so there is nothing to cache or to skip for short runs.
- **Not kept**: weight gradients as im2col + GEMM instead of oneDNN's backward-weights kernel (slower on every
  shape of the chain but the 128-channel 4x4 maps); `torch.set_flush_denormal` (no denormals occur: no effect).

Why 2x is out of reach: the "convolutions alone" figure above is oneDNN's forward, backward-data and
backward-weights kernels at the exact shapes and layout of the fast step and nothing else. Forward and
backward-data already run at 80-110 GFLOP/s per core (about the AVX2 FMA peak of this core), backward-weights
at ~60. With every other op free the step would be ~1.7x faster than plain eager, no more; what remains between
fast mode and that bound (batch norm, ReLU and max pooling, forward and backward: memory-bound) would need fused
kernels, which inductor does not deliver here.

Threads: a training uses torch's default, one intra-op thread per core (`TrainConfig.threads` / `--threads`
override it; the sweep runner gives each of its `--jobs` `cores // jobs` threads). On an idle machine 2 threads
make one training ~1.4-1.7x faster than 1 thread. When another process competes for a core, libgomp's default
busy-waiting at every parallel region makes 2-thread trainings several times *slower* than 1 thread (the "two
trainings at once, 2 threads each" row); `OMP_WAIT_POLICY=PASSIVE` in the environment (it must be set before
torch is imported) removes that at a small cost on an idle machine. For two trainings at once (sweeps), 1 thread
each gives the most steps per second in total.
"""


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


# ============================================================================ report


def fmt_load(values) -> str:
    return " -> ".join(f"{v:.1f}" for v in values)


def render(results: dict) -> str:
    m = results["machine"]
    lines = [SECTION, "",
             f"`python benchmarks/train_step.py` ({time.strftime('%Y-%m-%d %H:%M', time.localtime(results['started']))}, "
             f"{results['minutes']:.0f} min): {m['cpu']} ({m.get('simd', '')}), {m['cores']} cores, torch {m['torch']}, "
             f"batch {BATCH}, synthetic task with augmentation, SGD with momentum. The machine was shared with other "
             f"jobs: load average (1-min) {m['load_average'][0]:.1f} at the start, {results['load_end'][0]:.1f} at the "
             f"end; each table gives its own. Every comparison times its sides round-robin in one process and reports "
             f"medians over rounds; speedups and ratios are medians of per-round ratios (a slow spell hits both sides "
             f"of a round alike).", ""]
    for threads, r in results["per_threads"].items():
        lines += [f"### {threads} torch thread{'s' if threads > 1 else ''} ({r['clock']} clock)", ""]
        lines += _render_one(r)
    lines += _render_threads(results)
    if results.get("notes"):
        lines += [results["notes"].rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def _render_one(results: dict) -> list[str]:
    lines = []
    if "compare" in results:
        lines += ["Plain eager PyTorch vs routegraph (seconds per step; speedup over plain eager):", "",
                  "| network | plain eager | routegraph eager | routegraph fast | fast vs plain | steps/s (fast) | load |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in results["compare"].items():
            s, v = r["seconds"], r["vs_plain"]
            lines.append(f"| {name} | {s['plain eager']:.3f} | {s['routegraph eager']:.3f} ({v['routegraph eager']:.2f}x) "
                         f"| {s['routegraph fast']:.3f} | **{v['routegraph fast']:.2f}x** | {1 / s['routegraph fast']:.2f} "
                         f"| {fmt_load(r['load'])} |")
        static = results["compare"]["static chain"]
        goal = static["vs_plain"]["routegraph fast"]
        lines += ["", f"Goal (issue #7): fast mode at least 2x faster than plain eager on the static chain: "
                      f"**{'met' if goal >= 2 else 'not met'}** ({goal:.2f}x). The convolutions of the fast step alone "
                      f"(oneDNN, forward and backward, same shapes and layout, nothing else) take "
                      f"{static['seconds']['convolutions alone']:.3f} s: {static['vs_plain']['convolutions alone']:.2f}x "
                      f"faster than plain eager is the bound for anything that leaves the conv kernels as they are.", ""]
    if "strategies" in results:
        lines += ["Issue #3: one step per strategy, 8-layer chain, batch 128 (ratio to static in the same mode):", "",
                  "| strategy | eager: s/step | eager: vs static | fast: s/step | fast: vs static | steps/s (fast) |",
                  "|---|---|---|---|---|---|"]
        e, f = results["strategies"]["eager"], results["strategies"]["fast"]
        for method in ("static", "actor", "pragmatic_critic", "optimistic_critic"):
            lines.append(f"| {method} | {e['seconds'][method]:.3f} | {e['vs_static'][method]:.2f}x | "
                         f"{f['seconds'][method]:.3f} | {f['vs_static'][method]:.2f}x | {1 / f['seconds'][method]:.2f} |")
        ok = all(r["vs_static"]["actor"] <= 1.2 for r in (e, f))
        lines += ["", f"Goal: actor step at most 1.2x the static step in the same mode: **{'met' if ok else 'not met'}** "
                      f"(eager {e['vs_static']['actor']:.2f}x, fast {f['vs_static']['actor']:.2f}x; load "
                      f"{fmt_load(e['load'])}, {fmt_load(f['load'])}).", ""]
    if "ablation" in results:
        lines += ["What paid: fast mode with one feature switched (time relative to the default; actor, routed "
                  f"chain; the default prefetches here: {'yes' if results['ablation']['prefetch by default'] else 'no'}):",
                  "", "| variant | relative time |", "|---|---|"]
        for label, ratio in results["ablation"]["actor, routed chain"].items():
            lines.append(f"| {label} | {ratio:.3f} |")
        m = results["ablation"]["malloc"]
        lines += [f"| without malloc tuning (separate processes, {m['clock']} seconds per step) | {m['off'] / m['on']:.3f} "
                  f"({m['faults_off']:.0f} vs. {m['faults_on']:.0f} page faults and {m['sys_off'] * 1e3:.1f} vs. "
                  f"{m['sys_on'] * 1e3:.1f} ms of kernel time per step) |", ""]
    return lines


def _render_threads(results: dict) -> list[str]:
    lines = []
    if "thread_counts" in results:
        t = results["thread_counts"]["seconds"]
        lines += ["### Threads (fast mode, static chain; separate processes; wall-clock seconds per step, median)", "",
                  "| threads per training | one training: s/step | two trainings at once: s/step each "
                  "| two at once: steps/s together |", "|---|---|---|---|"]
        for label in THREAD_SETTINGS:
            one, two = t[f"{label} x1"], t[f"{label} x2"]
            lines.append(f"| {label} | {one:.3f} | {two:.3f} | {2 / two:.2f} |")
        lines += ["", f"Load average (1-min) at the start of each round: {fmt_load(results['thread_counts']['load'])}.", ""]
    return lines


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
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child)
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
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if not args.no_docs and {"compare", "strategies", "ablation", "threads"} <= sections:
        write_section(args.docs, text, SECTION)
        print(f"wrote the '{SECTION}' section of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
