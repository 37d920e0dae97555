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
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from chain import DirectChain  # noqa: E402
from compile_time import section_compile  # noqa: E402
from docs_section import save_results, write_section  # noqa: E402
from forced_exits import batch_fns, exit_mix, force_for, models, static_twin  # noqa: E402
from inference_report import SECTION, render  # noqa: E402
import timing  # noqa: E402
from timing import interleaved, machine_info, paired, peak_gflops  # noqa: E402

from routegraph.graph import static_baseline  # noqa: E402
from routegraph.infer import route  # noqa: E402
from routegraph.infer.executor import DEFAULT_BATCH  # noqa: E402
from routegraph.nn import build_model  # noqa: E402

TARGETS = (1 / 2, 1 / 3, 1 / 5)
SINGLES = 64  # batch 1: this many single-image calls per timing


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
    save_results(args.save, results)
    needed = {"forced", "no_exit", "gflops", "compile"}
    if needed <= set(results):
        text = render(results)
        print()
        print(text)
        if not args.no_docs:
            write_section(Path(args.docs), text, SECTION)
    else:
        print(f"(sections {sorted(needed - set(results))} not run: docs not updated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
