"""The ``## Training step`` section of docs/benchmarks.md, rendered from the training
benchmark's results (a dict, also saved as JSON: ``--render JSON`` re-renders it
without measuring)."""
from __future__ import annotations

import time

from plain_train import BATCH

SECTION = "## Training step"

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
- **Fused multiscale convs, fused heads**: no clear effect on this shared machine: +-3% in earlier runs, 0-3%
  faster in a separate 15-round A/B, mixed (0.88-1.10x) in a run under load (2026-11-26 06:57). The "What paid"
  rows above give this run's figure. Kept: the same arithmetic in fewer kernels.
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


MIN_ROUNDS = 3  # fewer rounds give no verdict: one slow spell decides a single round


def judge(ok: bool, rounds: int) -> str:
    """'met' / 'not met', or no verdict when too few rounds were timed."""
    if rounds < MIN_ROUNDS:
        return f"no verdict ({rounds} round{'s' if rounds != 1 else ''}; at least {MIN_ROUNDS} are needed)"
    return "met" if ok else "not met"


def fmt_load(values) -> str:
    return " -> ".join(f"{v:.1f}" for v in values)


def render(results: dict) -> str:
    m = results["machine"]
    lines = [SECTION, "",
             f"`python benchmarks/train_step.py` ({time.strftime('%Y-%m-%d %H:%M', time.localtime(results['started']))}, "
             f"{results['minutes']:.0f} min): {m['cpu']} ({m.get('simd', '')}), {m['cores']} cores, torch {m['torch']}, "
             f"batch {BATCH}, synthetic task with augmentation, SGD with momentum. Load average (1-min; it counts "
             f"the benchmark's own busy threads, so ~1 with one thread and ~2 with two on a quiet machine) "
             f"{m['load_average'][0]:.1f} at the start, {results['load_end'][0]:.1f} at the end; each table gives its "
             f"own. Every comparison times its sides round-robin in one process and reports "
             f"medians over rounds; speedups and ratios are medians of per-round ratios (a slow spell hits both sides "
             f"of a round alike).", ""]
    for threads, r in results["per_threads"].items():  # keys are strings once saved as JSON
        threads = int(threads)
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
                      f"**{judge(goal >= 2, static['rounds'])}** ({goal:.2f}x). The convolutions of the fast step alone "
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
        lines += ["", f"Goal: actor step at most 1.2x the static step in the same mode: **{judge(ok, min(e['rounds'], f['rounds']))}** "
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
        for label in [key[: -len(" x1")] for key in t if key.endswith(" x1")]:  # the settings, in order
            one, two = t[f"{label} x1"], t[f"{label} x2"]
            lines.append(f"| {label} | {one:.3f} | {two:.3f} | {2 / two:.2f} |")
        lines += ["", f"Load average (1-min) at the start of each round: {fmt_load(results['thread_counts']['load'])}.", ""]
    return lines
