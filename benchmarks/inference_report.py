"""The ``## Routed inference`` section of docs/benchmarks.md, rendered from the
inference benchmark's results (a dict, also saved as JSON: ``--render JSON``
re-renders it without measuring)."""
from __future__ import annotations

import time

from routegraph.infer.executor import DEFAULT_BATCH

SECTION = "## Routed inference"
GOALS = {"ratio_256": 0.8, "ratio_32": 0.6, "overhead": 1.05, "compile_s": 1.0}


def fmt_t(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(results: dict) -> str:
    info = results["machine"]
    lines = [SECTION, "",
             f"Written by `python benchmarks/inference.py{' --quick' if results['quick'] else ''}` on "
             f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(results['started']))} "
             f"({results['seconds']:.0f} s). Code: `routegraph/infer/` (see docs/inference.md).", "",
             f"Machine: {info['cpu']}, {info['cores']} cores ({info.get('simd', '')}), torch {info['torch']}, "
             f"{info['threads']} torch thread(s), oneDNN {'on' if info['mkldnn'] else 'off'}, git {info['git']}. "
             f"Load average at start {fmt_load(info['load_average'])}, at end {fmt_load(results['load_end'])} "
             "(1, 5 and 15 minutes; it counts the benchmark's own busy thread, and more means other jobs ran "
             "alongside). Every ratio is measured within this run, its two "
             "sides interleaved round by round; times and ratios are medians over rounds. "
             + ("Times are **CPU time** of the benchmarking process (`time.process_time`, one torch thread), which "
                "leaves out the time the process waits while other jobs hold the cores; *(wall)* columns give the "
                "same ratios from wall-clock time." if results["clock"] == "cpu" else
                "Times are wall-clock time (`time.perf_counter`)."), "",
             f"Network: the eight-layer chain ({results['chain_source']}), full static network "
             f"{results['full_ops']:,} ops per image; routed paths include their routers' ops.", ""]

    lines += ["### 1. Realized vs. ideal speedup (forced exits)", "",
              "Exits are forced (the routers still run; `route(..., force=...)`) with a geometric mix over all "
              "eight exits whose mean op count is the target fraction of the full network's. "
              "*ideal* = full ops / mean ops; *realized* = static time / routed time; *ratio* = realized / ideal. "
              "*time-ideal* is the speedup if every example cost exactly the static time of its exit's prefix "
              "network (the first n layers, timed at the same batch size): it accounts for the layers' unequal "
              "FLOP/s (an early exit saves less time than ops), not for compaction; *realized / time-ideal* near 1 "
              "means the executor adds little beyond that (above 1 is possible: smaller sub-batches can be more "
              "cache-friendly; it is also noisy, being eight separately timed networks). "
              "Batch 1 = 64 single-image calls.", "",
              "| batch | mean ops / full | ideal | static / image | routed / image | realized | ratio | goal | met | ratio (wall) | time-ideal | realized / time-ideal |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|"]
    for r in results["forced"]:
        goal = GOALS["ratio_256"] if r["batch"] >= 256 else GOALS["ratio_32"] if r["batch"] >= 32 else None
        bound = r.get("time_ideal")
        bound_text = "- | -" if bound is None else f"{bound:.2f}x | {r['realized'] / bound:.2f}"
        lines.append(
            f"| {r['batch']} | 1/{1 / r['target']:.0f} | {r['ideal']:.2f}x | {fmt_t(r['t_static'])} | {fmt_t(r['t_routed'])} | "
            f"{r['realized']:.2f}x | {r['ratio']:.3f} | {'>= ' + str(goal) if goal else '-'} | "
            f"{verdict(r['ratio'] >= goal) if goal else '-'} | {r['ratio_wall']:.3f} | {bound_text} |")
    lines.append("")
    chunk_rows = [r for r in results["forced"] if "one_chunk" in r]
    if chunk_rows:
        lines += [f"`route` runs at most {DEFAULT_BATCH} images at once by default (`batch_size=`), so batch 1024 "
                  f"runs as {1024 // DEFAULT_BATCH} chunks on both sides. In one chunk (`batch_size=None`), mean ops 1/3: "
                  + "; ".join(f"static {fmt_t(r['one_chunk']['t_static'])}, routed {fmt_t(r['one_chunk']['t_routed'])} per image, "
                              f"ratio {r['one_chunk']['ratio']:.3f}" for r in chunk_rows) + ".", ""]
    trained = results.get("trained")
    if trained:
        lines += [f"#### 1b. Trained actor network ({trained['data']} test set)", "",
                  f"Run `{trained['run']}` ({trained['run_id']}, {trained['iterations']} iterations, k_cpt {trained['k_cpt']}): "
                  f"{trained['n']} test images, accuracy {trained['accuracy']:.4f}, mean ops {trained['mean_ops']:.4g} "
                  f"(1/{trained['full_ops'] / trained['mean_ops']:.2f} of the full network). Exit fractions: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in trained["exit_fractions"].items() if v > 0) + ".", "",
                  "| batch | ideal | static / image | routed / image | realized | ratio | goal | met | ratio (wall) |",
                  "|---:|---:|---:|---:|---:|---:|---:|:---:|---:|"]
        for r in trained["rows"]:
            goal = GOALS["ratio_256"] if r["batch"] >= 256 else GOALS["ratio_32"] if r["batch"] >= 32 else None
            lines.append(f"| {r['batch']} | {r['ideal']:.2f}x | {fmt_t(r['t_static'])} | {fmt_t(r['t_routed'])} | "
                         f"{r['realized']:.2f}x | {r['ratio']:.3f} | {'>= ' + str(goal) if goal else '-'} | "
                         f"{verdict(r['ratio'] >= goal) if goal else '-'} | {r['ratio_wall']:.3f} |")
        lines.append("")

    lines += ["### 2. Overhead when nobody exits early", "",
              "Every example is forced through all eight layers; the routed network also runs seven routers "
              f"(+{results['no_exit'][0]['router_ops_share']:.2%} ops) and the junction bookkeeping.", "",
              "| batch | static / image | routed / image | routed / static | goal | met | routed / static (wall) |",
              "|---:|---:|---:|---:|---:|:---:|---:|"]
    for r in results["no_exit"]:
        lines.append(f"| {r['batch']} | {fmt_t(r['t_static'])} | {fmt_t(r['t_routed'])} | {r['overhead']:.3f} | "
                     f"<= {GOALS['overhead']} | {verdict(r['overhead'] <= GOALS['overhead'])} | {r['overhead_wall']:.3f} |")
    lines.append("")

    g = results["gflops"]
    lines += ["### 3. Raw efficiency (static full network, batch 256)", "",
              f"Peak estimate: {g['peak']:.1f} GFLOP/s (float32 2048x2048 matmul, {info['threads']} thread(s), best of 5). "
              "FLOPs = 2 x multiply-accumulates.", "",
              "| implementation | time / batch | GFLOP/s | of peak |", "|---|---:|---:|---:|"]
    for r in g["rows"]:
        lines.append(f"| {r['what']} | {r['seconds'] * 1e3:.1f} ms | {r['gflops']:.1f} | {r['of_peak']:.0%} |")
    lines += ["", f"routegraph (plan) / direct PyTorch (NCHW) time, paired: **{g['vs_direct']:.2f}** "
                  f"(goal: <= 1, {'met' if g['vs_direct'] <= 1 else '**not met**'}).", ""]

    lines += ["### 4. Compile time, generated 1,000-entry specs", "",
              "| spec | entries | nodes | junctions | regions | paths | compile_spec | goal | met | build_model | plan |",
              "|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|"]
    for r in results["compile"]:
        lines.append(f"| routed {r['shape']} | {r['entries']} | {r['nodes']} | {r['junctions']} | {r['regions']} | {r['paths']} | "
                     f"{r['compile_s']:.3f} s | < {GOALS['compile_s']} s | {verdict(r['compile_s'] < GOALS['compile_s'])} | "
                     f"{r['build_model_s']:.3f} s | {r['plan_s']:.3f} s |")
    lines.append("")

    if results.get("ablation"):
        lines += ["### 5. What paid (ablation, exits for 1/3 of the ops)", "",
                  "Each row adds one remedy to the one above; *ratio* as in section 1 (both sides use that row's "
                  "options); *dense / static* = the dense `RoutedNetwork.forward` time of the static network over "
                  "that row's static time.", "",
                  "| batch | executor options | static / image | routed / image | ratio | dense / static |",
                  "|---:|---|---:|---:|---:|---:|"]
        for r in results["ablation"]:
            lines.append(f"| {r['batch']} | {r['what']} | {fmt_t(r['t_static'])} | {fmt_t(r['t_routed'])} | "
                         f"{r['ratio']:.2f} | {r['static_vs_dense']:.2f}x |")
        lines.append("")
    more = results.get("more_threads")
    if more:
        lines += [f"### 6. With {more['threads']} threads (wall clock)", "",
                  "Sections 1 and 2 again at batches 32 and 256, with both cores and wall-clock time. On this shared "
                  "machine these numbers swing with the other jobs (load average "
                  f"{fmt_load(more['load_before'])} before, {fmt_load(more['load_after'])} after): with two busy "
                  "threads a stall of either one stalls the call, and CPU time cannot be used to factor it out.", "",
                  "| batch | mean ops / full | ideal | static / image | routed / image | realized | ratio | goal | met |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
        one_thread = {(r["batch"], round(r["target"], 6)): r for r in results["forced"]}
        for r in more["forced"]:
            goal = GOALS["ratio_256"] if r["batch"] >= 256 else GOALS["ratio_32"]
            ref = one_thread.get((r["batch"], round(r["target"], 6)))
            stalled = ref is not None and max(r["t_static"], r["t_routed"]) > 3 * max(ref["t_static"], ref["t_routed"])
            lines.append(f"| {r['batch']} | 1/{1 / r['target']:.0f} | {r['ideal']:.2f}x | {fmt_t(r['t_static'])} | "
                         f"{fmt_t(r['t_routed'])} | {r['realized']:.2f}x | {r['ratio']:.3f} | >= {goal} | "
                         + ("stalled (times > 3x the one-thread ones): not a measurement |" if stalled
                            else f"{verdict(r['ratio'] >= goal)} |"))
        lines += ["", "| batch | no early exit: routed / static | goal | met |", "|---:|---:|---:|:---:|"]
        for r in more["no_exit"]:
            lines.append(f"| {r['batch']} | {r['overhead']:.3f} | <= {GOALS['overhead']} | {verdict(r['overhead'] <= GOALS['overhead'])} |")
        lines.append("")
    lines += [NOTES, ""]
    return "\n".join(lines)


NOTES = """### Notes: what was tried

Kept (on by default; `route(..., **options)` turns each off, see `DEFAULT_OPTIONS` in
`routegraph/infer/plan.py`; section 5 measures them one by one):

- **Precomputed execution plan** per compiled graph (cached per model, rebuilt when a weight changes in
  place): per region a list of plain callables, the tensors each subtree needs, each router as one
  function; values are released after their last use. No `nn.Module.__call__` per node, no graph walk.
- **Compaction by one stable argsort per junction** (`argsort(decisions).split(counts)` + `index_select`):
  only the tensors (and pyramid levels) the subtree reads are gathered, in channels-last layout (a plain
  `index_select` returns NCHW, and the next conv then paid ~30% for a layout change -- the largest single
  fix in the executor); **empty branches are skipped**; when every example takes the same sink the batch
  passes on **without a copy**; results are scattered back once at the end.
- **BN folded into the convs** (and into the routers' linears), ReLU applied in place on the conv output.
- **Fused multiscale convs**: each coarse scale runs ONE conv over `cat([lateral input, maxpool(finer
  output)])` with concatenated weights -- the same multiply-accumulates as the two convs, one call fewer.
- **Fast 2x2 max pooling**: PyTorch's CPU `max_pool2d` is 10-50x slower on NCHW maps here than two
  element-wise maxima over strided views, which give identical results.
- **channels_last** weights and maps: oneDNN's convolutions run up to ~2x faster in NHWC here.
- **At most 256 images at once** (`route(..., batch_size=256)` by default): per-image time rises past
  ~256 images as the maps leave the caches; 128 was slower for routed inference, 512 for both.
- **`torch.inference_mode`** around the executor.

Tried and not kept:

- `torch.compile` (inductor, CPU): `dynamic=True` fails to lower the convolutions in torch 2.13
  (`LoweringException: Exponent must be non-negative`); with static shapes the static network compiled
  in ~35 s (~50 s more for a second batch size) for ~15% speed, and routed inference meets a new
  sub-batch size at almost every junction.
- oneDNN fused conv + ReLU / conv + add ops with prepacked weights (`torch.ops.mkldnn._convolution_pointwise`):
  within noise at batch 32-256, slower at batch 1, and invisible to `FlopCounterMode`.
- `mallopt` to keep freed memory (no page faults for fresh buffers): no measurable change.

Run-to-run spread: across the full runs made while developing this (same code, different load), a
given row of section 1 moved by up to about +-0.06 (e.g. batch 256 at 1/3 of the ops: 0.72 to 0.80);
differences smaller than that are noise.

Where the rest of the time goes:

- **Unequal FLOP/s per layer** (the *time-ideal* column). Layers 1-2 (32x32 maps, 3 and 16 input channels) run at roughly half the FLOP/s of
  layers 5-8, so early exits save a smaller share of the time than of the ops; the more examples exit
  after layer 1 (1/5 of the ops), the larger the gap.
- **Compaction**: gathering the continuing examples' maps (after layer 1: 87 KB per image) and running
  the deep layers on small sub-batches (at batch 32 and 1/5 of the ops, layers 4-8 see 1-3 images).
- **Batch 1** has no compaction at all (the batch just follows its path), but reads every weight on the
  path from memory for one image: the routers hold 18% as many weights as all the convolutions (their
  ops are only 0.45%), which is the batch-1 overhead of section 2.
"""


def fmt_load(load) -> str:
    return "?" if not load else " / ".join(f"{v:.1f}" for v in load)
