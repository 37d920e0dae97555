"""Routed-inference benchmarks (issue #6); results go to docs/benchmarks.md.

    python benchmarks/inference.py                  # full run (a few minutes)
    python benchmarks/inference.py --quick          # fewer batches and rounds (~1-2 minutes)
    python benchmarks/inference.py --run runs/X     # the trained actor network to use (section 1b)

Sections (every ratio is measured within one run, the two sides interleaved):

1. Realized vs. ideal speedup on the eight-layer chain: routed, path-only
   inference (with routers) against the static full network, at batches 1, 32,
   256 and 1024, with exits forced so that the mean op count is 1/2, 1/3 and
   1/5 of the full network's, and (1b) for a trained actor network on the
   hybrid test set (synthetic when the data is absent). Reported:
   realized / ideal, ideal = full ops / mean ops.
2. Overhead when nobody exits early: routed / static time.
3. Raw efficiency: GFLOP/s of the static full network at batch 256 against a
   large matmul and against the same network written directly in PyTorch.
4. Compile time of generated 1,000-node specs.
5. Ablation: which inference remedies pay.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from chain import DirectChain, load_chain  # noqa: E402
from docs_section import write_section  # noqa: E402
import timing  # noqa: E402
from timing import interleaved, machine_info, once, paired, peak_gflops  # noqa: E402

from routegraph.graph import compile_spec, static_baseline  # noqa: E402
from routegraph.infer import route  # noqa: E402
from routegraph.infer.executor import DEFAULT_BATCH  # noqa: E402
from routegraph.nn import build_model  # noqa: E402

SECTION = "## Routed inference"

TARGETS = (1 / 2, 1 / 3, 1 / 5)
GOALS = {"ratio_256": 0.8, "ratio_32": 0.6, "overhead": 1.05, "compile_s": 1.0}
SINGLES = 64  # batch 1: this many single-image calls per timing


# ----------------------------------------------------------------------------- models


def models():
    """The routed chain (eval mode, non-trivial BN statistics) and its static full network
    with the same node weights."""
    graph, source = load_chain()
    torch.manual_seed(0)
    routed = build_model(graph)
    with torch.no_grad():
        for module in routed.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    routed.eval()
    static = static_twin(routed)
    return graph, source, routed, static


def static_twin(routed):
    """The static full network (deepest classifier, no routers) with ``routed``'s weights."""
    graph = routed.graph
    static = build_model(static_baseline(graph, graph.classifiers[-1]))
    own = static.state_dict()
    static.load_state_dict({k: v for k, v in routed.state_dict().items() if k in own})
    return static.eval()


def exit_mix(graph, full_ops: float, target: float, n: int, seed: int = 0):
    """Exit classifier per example, geometric over the chain's exits (p_i ~ r**i), with r
    chosen so that the mean routed ops (routers included) is ``target * full_ops``."""
    ops = torch.tensor([p.ops for p in graph.paths], dtype=torch.float64)
    L = len(ops)
    lo, hi = 1e-4, 1e4
    for _ in range(200):
        r = math.sqrt(lo * hi)
        p = r ** torch.arange(L, dtype=torch.float64)
        p /= p.sum()
        if float((p * ops).sum()) > target * full_ops:
            hi = r
        else:
            lo = r
    counts = torch.floor(p * n).long()
    # hand out the remainder to keep the mean closest to the target
    while counts.sum() < n:
        best = min(range(L), key=lambda i: abs(float(((counts + torch.eye(L, dtype=torch.long)[i]).double() * ops).sum()) / n
                                               - target * full_ops))
        counts[best] += 1
    gen = torch.Generator().manual_seed(seed)
    exits = torch.repeat_interleave(torch.arange(L), counts)[torch.randperm(n, generator=gen)]
    return exits


def force_for(graph, exits: torch.Tensor) -> dict[str, torch.Tensor]:
    force = {j.name: torch.zeros(len(exits), dtype=torch.long) for j in graph.junctions}
    for e in exits.unique().tolist():
        rows = exits == e
        for junction, sink in graph.paths[e].decisions:
            force[junction][rows] = sink
    return force


def batch_fns(routed, static, x, force, batch: int):
    """(routed call, static call) processing ``x``: one call per ``batch`` images (batch 1: singles)."""
    if batch == 1:
        singles = [(x[i:i + 1], {j: d[i:i + 1] for j, d in force.items()} if force else None) for i in range(len(x))]

        def fr():
            for xi, fi in singles:
                route(routed, xi, force=fi)

        def fs():
            for xi, _ in singles:
                route(static, xi)
        return fr, fs
    return (lambda: route(routed, x, force=force)), (lambda: route(static, x))


# ----------------------------------------------------------------------------- sections


def section_forced(graph, routed, static, batches, rounds, time_ideal_batches):
    full = static.graph.total_ops
    rows = []
    for batch in batches:
        n = SINGLES if batch == 1 else batch
        x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
        r_ = rounds_for(batch, rounds)
        prefix = prefix_times(graph, routed, x, batch, r_) if batch in time_ideal_batches else None
        for target in TARGETS:
            exits = exit_mix(graph, full, target, n, seed=batch)
            force = force_for(graph, exits)
            mean_ops = float(torch.tensor([graph.paths[e].ops for e in exits.tolist()], dtype=torch.float64).mean())
            fr, fs = batch_fns(routed, static, x, force, batch)
            t = paired(fr, fs, rounds=r_)
            ideal = full / mean_ops
            realized = t.speedup
            row = {"batch": batch, "target": target, "mean_ops": mean_ops, "ideal": ideal, "t_static": t.b / n,
                   "t_routed": t.a / n, "realized": realized, "ratio": realized / ideal,
                   "exits": torch.bincount(exits, minlength=len(graph.paths)).tolist(),
                   "ratio_wall": 1 / t.ratio_wall / ideal}
            if prefix is not None:
                # a zero-overhead executor: each example pays the static prefix time of its exit
                per_example = sum(prefix[e] for e in exits.tolist()) / n
                row["time_ideal"] = prefix[-1] / per_example
            if batch > DEFAULT_BATCH and target == TARGETS[1]:  # also without the default chunking
                t1 = paired(lambda: route(routed, x, force=force, batch_size=None),
                            lambda: route(static, x, batch_size=None), rounds=r_)
                row["one_chunk"] = {"realized": t1.speedup, "ratio": t1.speedup / ideal,
                                    "t_static": t1.b / n, "t_routed": t1.a / n}
            rows.append(row)
            print(f"  batch {batch:>5} target {target:.3f}: ideal {ideal:.2f}x realized {realized:.2f}x "
                  f"ratio {realized / ideal:.2f}" + (f" (time-ideal {row['time_ideal']:.2f}x)" if prefix else ""),
                  flush=True)
    return rows


def prefix_times(graph, routed, x, batch, rounds):
    """Seconds per example of each static prefix network (exit i's baseline) at this batch."""
    nets = []
    for classifier in graph.classifiers:
        net = build_model(static_baseline(graph, classifier))
        own = net.state_dict()
        net.load_state_dict({k: v for k, v in routed.state_dict().items() if k in own})
        nets.append(net.eval())
    fns = {}
    for k, net in enumerate(nets):
        if batch == 1:
            fns[k] = (lambda net=net: [route(net, x[i:i + 1]) for i in range(len(x))])
        else:
            fns[k] = (lambda net=net: route(net, x))
    times = interleaved(fns, rounds=rounds, reps=1)
    return [times[k] / len(x) for k in range(len(nets))]


def rounds_for(batch: int, rounds: int) -> int:
    """Fewer rounds for the slow batch-1024 comparisons."""
    return max(3, rounds // 2) if batch >= 1024 else rounds


def section_no_exit(graph, routed, static, batches, rounds):
    rows = []
    for batch in batches:
        n = SINGLES if batch == 1 else batch
        x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(7 + batch))
        exits = torch.full((n,), len(graph.paths) - 1, dtype=torch.long)
        fr, fs = batch_fns(routed, static, x, force_for(graph, exits), batch)
        t = paired(fr, fs, rounds=rounds_for(batch, rounds))
        router_share = (graph.paths[-1].ops - static.graph.total_ops) / static.graph.total_ops
        rows.append({"batch": batch, "t_static": t.b / n, "t_routed": t.a / n, "overhead": t.ratio,
                     "overhead_wall": t.ratio_wall, "router_ops_share": router_share})
        print(f"  batch {batch:>5}: routed/static {t.ratio:.3f} (router ops: +{router_share:.2%})", flush=True)
    return rows


def section_gflops(routed, static, threads, rounds, batch=256):
    full = static.graph.total_ops
    x = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    direct = DirectChain().load_from(routed).eval()
    direct_cl = DirectChain().load_from(routed).eval().to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def run_direct():
        with torch.inference_mode():
            direct(x)

    def run_direct_cl():
        with torch.inference_mode():
            direct_cl(x_cl)

    def run_dense():
        with torch.inference_mode():
            static(x)

    fns = {"routegraph static (path-only plan)": lambda: route(static, x),
           "routegraph static, dense forward (nn.Modules)": run_dense,
           "direct PyTorch (NCHW)": run_direct,
           "direct PyTorch (channels_last)": run_direct_cl}
    times = interleaved(fns, rounds=max(3, rounds // 2), reps=1)
    peak = peak_gflops(threads)
    rows = [{"what": name, "seconds": t, "gflops": 2 * full * batch / t / 1e9} for name, t in times.items()]
    for row in rows:
        row["of_peak"] = row["gflops"] / peak
        print(f"  {row['what']:<48} {row['seconds'] * 1e3:8.1f} ms  {row['gflops']:6.1f} GFLOP/s  {row['of_peak']:.0%} of peak", flush=True)
    pair = paired(lambda: route(static, x), run_direct, rounds=max(3, rounds // 2))
    return {"rows": rows, "peak": peak, "batch": batch, "vs_direct": pair.ratio}


def generated_spec(n_nodes: int, shape: str):
    """A routed chain or binary tree of small conv layers with ``n_nodes`` entries (nodes + junctions)."""
    from routegraph.spec.schema import Spec

    nodes: list[dict] = []
    router = [{"kind": "linear", "features": 4}, {"kind": "relu"}, {"kind": "linear", "features": 2}]
    counter = [0]

    def fresh(p):
        counter[0] += 1
        return f"{p}{counter[0]}"

    def block(src):
        conv = fresh("conv")
        relu, desc = fresh("relu"), fresh("desc")
        nodes.extend([{"name": conv, "kind": "conv2d", "input": src, "channels": 4},
                      {"name": relu, "kind": "relu", "input": conv},
                      {"name": desc, "kind": "flatten", "input": relu}])
        return conv, relu, desc

    def exit_(desc):
        name = fresh("exit")
        nodes.append({"name": name, "kind": "classifier", "input": desc, "classes": 10})
        return name

    def budget_left():
        return n_nodes - len(nodes)

    if shape == "chain":
        _, relu, desc = block("stem")
        while budget_left() >= 1 + 5 + 1:  # exit + junction + block, then the last exit
            out = exit_(desc)
            junction = {"name": fresh("j"), "kind": "junction", "router": {"reads": desc, "layers": router}, "sinks": [out]}
            nodes.append(junction)
            conv, relu, desc = block(relu)
            junction["sinks"].append(conv)
        exit_(desc)
    else:  # binary tree, breadth-first, while the budget allows
        _, relu, desc = block("stem")
        frontier = [(relu, desc)]
        while frontier:
            relu, desc = frontier.pop(0)
            # splitting costs a junction and two blocks (7) and turns one future exit into two
            if budget_left() - 7 - 1 < len(frontier) + 2:
                exit_(desc)
                continue
            junction = {"name": fresh("j"), "kind": "junction", "router": {"reads": desc, "layers": router}, "sinks": []}
            nodes.append(junction)
            for _ in range(2):
                conv, r2, d2 = block(relu)
                junction["sinks"].append(conv)
                frontier.append((r2, d2))
    # the stem: a chain of parameter-free nodes from the image, padding to exactly n_nodes
    stem, src = [], "image"
    for _ in range(max(budget_left(), 1)):
        stem.append({"name": fresh("pad"), "kind": "relu", "input": src})
        src = stem[-1]["name"]
    for node in nodes:
        if node.get("input") == "stem":
            node["input"] = src
    nodes[:0] = stem
    return Spec(name=f"generated_{shape}", input={"name": "image", "shape": [3, 8, 8]}, nodes=nodes)


def section_compile(quick: bool):
    from routegraph.infer.plan import build_plan

    rows = []
    for shape in ("chain", "tree"):
        spec = generated_spec(1000, shape)
        times = [once(lambda: compile_spec(spec)) for _ in range(3 if quick else 5)]
        graph = compile_spec(spec)
        build = once(lambda: build_model(graph))
        model = build_model(graph).eval()
        plan = once(lambda: build_plan(model))
        rows.append({"shape": shape, "entries": len(spec.nodes), "nodes": len(graph.nodes), "junctions": len(graph.junctions),
                     "regions": len(graph.regions), "paths": len(graph.paths), "compile_s": statistics.median(times),
                     "build_model_s": build, "plan_s": plan})
        print(f"  {shape}: {len(spec.nodes)} entries ({len(graph.nodes)} nodes + {len(graph.junctions)} junctions), "
              f"compile {statistics.median(times):.3f} s, build_model {build:.3f} s, plan {plan:.3f} s", flush=True)
    return rows


ABLATION = {
    "modules only (naive: index_select compaction, nn.Module calls)":
        dict(kernels=False, fold_bn=False, fuse_multiscale=None, channels_last=False, fast_pool=False),
    "+ plain-callable kernels, BN folded (NCHW)":
        dict(kernels=True, fold_bn=True, fuse_multiscale="add", channels_last=False, fast_pool=False),
    "+ fast 2x2 max pooling":
        dict(kernels=True, fold_bn=True, fuse_multiscale="add", channels_last=False, fast_pool=True),
    "+ fused multiscale convs (cat)":
        dict(kernels=True, fold_bn=True, fuse_multiscale="cat", channels_last=False, fast_pool=True),
    "+ channels_last (the default)":
        dict(kernels=True, fold_bn=True, fuse_multiscale="cat", channels_last=True, fast_pool=True),
}


def section_ablation(graph, routed, static, batches, rounds):
    full = static.graph.total_ops
    rows = []
    for batch in batches:
        x = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(11))
        exits = exit_mix(graph, full, 1 / 3, batch, seed=batch)
        force = force_for(graph, exits)
        mean_ops = float(torch.tensor([graph.paths[e].ops for e in exits.tolist()], dtype=torch.float64).mean())
        fns = {}
        for name, options in ABLATION.items():
            fns[(name, "routed")] = (lambda o=options: route(routed, x, force=force, **o))
            fns[(name, "static")] = (lambda o=options: route(static, x, **o))

        def dense():
            with torch.inference_mode():
                static(x)
        fns[("dense", "static")] = dense
        times = interleaved(fns, rounds=max(3, rounds // 2), reps=1)
        for name in ABLATION:
            tr, ts = times[(name, "routed")], times[(name, "static")]
            rows.append({"batch": batch, "what": name, "t_routed": tr / batch, "t_static": ts / batch,
                         "ratio": ts / tr / (full / mean_ops), "static_vs_dense": times[("dense", "static")] / ts})
            print(f"  batch {batch}: {name:<62} routed {tr * 1e3:7.1f} ms static {ts * 1e3:7.1f} ms "
                  f"ratio {rows[-1]['ratio']:.2f}", flush=True)
    return rows


def section_trained(run_path, batches, rounds, limit):
    """Routed vs static on a trained actor network and real test images."""
    from routegraph.data import load_task
    from routegraph.train.rundir import load_run

    run = load_run(run_path)
    config = run.config
    try:
        task = load_task(config["data"], **config.get("data_options", {}))
        data = config["data"]
    except Exception as exc:  # data absent: the built-in synthetic set
        print(f"  note: task {config['data']!r} unavailable ({type(exc).__name__}); using 'synthetic'")
        task, data = load_task("synthetic", n_train=10, n_test=limit), "synthetic"
    gen = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(task.test_images), generator=gen)[:limit]
    images, labels = task.test_images[pick].float(), task.test_labels[pick]
    model = run.model.eval()
    k_cpt = None if not run.graph.k_cpt_input else (config.get("k_cpt") or 4e-9)
    static = static_twin(model)
    full = static.graph.total_ops
    out = route(model, images, k_cpt)
    mean_ops = out.mean_ops
    accuracy = (out.predictions == labels).double().mean().item()
    static_out = route(static, images)
    static_acc = (static_out.predictions == labels).double().mean().item()
    rows = []
    for batch in batches:
        if batch == 1:
            xs = images[:SINGLES]
            sub = route(model, xs, k_cpt)

            def fr():
                for i in range(len(xs)):
                    route(model, xs[i:i + 1], k_cpt)

            def fs():
                for i in range(len(xs)):
                    route(static, xs[i:i + 1])
            n, ideal = len(xs), full / sub.mean_ops
        else:  # calls of `batch` images each, as a user would make them (route's default chunking applies)
            slices = [images[i:i + batch] for i in range(0, len(images), batch)]

            def fr():
                for xs in slices:
                    route(model, xs, k_cpt)

            def fs():
                for xs in slices:
                    route(static, xs)
            n, ideal = len(images), full / mean_ops
        t = paired(fr, fs, rounds=max(3, rounds // 3))
        rows.append({"batch": batch, "ideal": ideal, "realized": t.speedup, "ratio": t.speedup / ideal,
                     "t_routed": t.a / n, "t_static": t.b / n, "ratio_wall": 1 / t.ratio_wall / ideal})
        print(f"  batch {batch:>5}: ideal {ideal:.2f}x realized {t.speedup:.2f}x ratio {t.speedup / ideal:.2f}", flush=True)
    return {"run": str(run_path), "run_id": config.get("run_id"), "data": data, "n": len(images),
            "iterations": config.get("iterations"), "k_cpt": config.get("k_cpt"), "mean_ops": mean_ops,
            "full_ops": full, "accuracy": accuracy, "static_accuracy_same_weights": static_acc,
            "exit_fractions": out.exit_fractions(), "rows": rows}


# ----------------------------------------------------------------------------- report


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
             "(a shared machine: other jobs ran alongside). Every ratio is measured within this run, its two "
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batches 1, 32, 256 only, fewer rounds")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared 2-core machine two-thread timings are dominated by "
                             "scheduler stalls)")
    parser.add_argument("--clock", choices=("cpu", "wall"),
                        help="primary clock: cpu (process CPU time; default with 1 thread) or wall (default otherwise)")
    parser.add_argument("--run", default="runs/bench-actor-chain8", help="trained actor run for section 1b (skipped if absent)")
    parser.add_argument("--limit", type=int, default=1024, help="test images used in section 1b")
    parser.add_argument("--rounds", type=int, help="rounds per comparison (default 7, quick 3)")
    parser.add_argument("--docs", default=str(HERE.parent / "docs" / "benchmarks.md"), help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--sections", default="forced,trained,no_exit,gflops,compile,ablation")
    parser.add_argument("--also-threads", type=int, default=2,
                        help="repeat sections 1 and 2 at batches 32 and 256 with this many threads, wall clock (0: skip)")
    parser.add_argument("--save", default=str(HERE.parent / "docs" / "benchmark-results" / "inference.json"), help="where to keep the raw results")
    parser.add_argument("--render", metavar="JSON", help="only re-render the docs section from saved results")
    args = parser.parse_args(argv)
    if args.render:
        text = render(json.loads(Path(args.render).read_text()))
        print(text)
        if not args.no_docs:
            write_section(Path(args.docs), text, SECTION)
            print(f"wrote the '## Routed inference' section of {args.docs}")
        return 0

    torch.set_num_threads(args.threads)
    timing.use_clock(args.clock or ("cpu" if args.threads == 1 else "wall"))
    sections = set(args.sections.split(","))
    rounds = args.rounds or (5 if args.quick else 15)
    batches = (1, 32, 256) if args.quick else (1, 32, 256, 1024)
    started = time.time()
    results = {"quick": args.quick, "started": started, "machine": machine_info(), "clock": timing.CLOCK["name"]}
    graph, source, routed, static = models()
    results.update(chain_source=source, full_ops=static.graph.total_ops)
    print(f"machine: {results['machine']}")
    if "forced" in sections:
        print("1. realized vs ideal speedup (forced exits)")
        results["forced"] = section_forced(graph, routed, static, batches, rounds,
                                           time_ideal_batches=(32, 256) if args.quick else (1, 32, 256, 1024))
    if "trained" in sections:
        run_path = Path(args.run)
        if (run_path / "checkpoint.pt").exists():
            print(f"1b. trained network {run_path}")
            results["trained"] = section_trained(run_path, (1, 32, 256) if args.quick else (1, 32, 256, 1024), rounds,
                                                 min(args.limit, 512) if args.quick else args.limit)
        else:
            print(f"1b. skipped: no trained run at {run_path} (train one: routegraph train specs/chain_8layer.yaml "
                  f"--strategy actor --k-cpt 1e-8 --data hybrid --out {run_path})")
    if "no_exit" in sections:
        print("2. overhead with no early exits")
        results["no_exit"] = section_no_exit(graph, routed, static, batches, rounds)
    if "gflops" in sections:
        print("3. raw efficiency at batch 256")
        results["gflops"] = section_gflops(routed, static, args.threads, rounds)
    if "compile" in sections:
        print("4. compile time, 1,000-entry specs")
        results["compile"] = section_compile(args.quick)
    if "ablation" in sections:
        print("5. ablation")
        results["ablation"] = section_ablation(graph, routed, static, (32, 256), rounds)
    if args.also_threads:
        print(f"6. again with {args.also_threads} threads (wall clock): batches 32 and 256")
        torch.set_num_threads(args.also_threads)
        timing.use_clock("wall")
        load_before = os.getloadavg()
        results["more_threads"] = {
            "threads": args.also_threads, "load_before": load_before,
            "forced": section_forced(graph, routed, static, (32, 256), rounds, time_ideal_batches=()),
            "no_exit": section_no_exit(graph, routed, static, (32, 256), rounds),
        }
        results["more_threads"]["load_after"] = os.getloadavg()
        torch.set_num_threads(args.threads)
        timing.use_clock(args.clock or ("cpu" if args.threads == 1 else "wall"))
    results["seconds"] = time.time() - started
    results["load_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    save = Path(args.save)
    save.parent.mkdir(parents=True, exist_ok=True)
    save.write_text(json.dumps(results, indent=1, default=str))
    print(f"results: {save}")
    needed = {"forced", "no_exit", "gflops", "compile"}
    if needed <= set(results):
        text = render(results)
        print()
        print(text)
        if not args.no_docs:
            write_section(Path(args.docs), text, SECTION)
            print(f"wrote the '## Routed inference' section of {args.docs}")
    else:
        print(f"(sections {sorted(needed - set(results))} not run: docs not updated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
