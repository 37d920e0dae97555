"""Path-only inference of the routed transformer example (specs/transformer_routed.yaml, issue 17):
realized vs. ideal speedup over dense evaluation at batches 32 and 256; results go to
docs/benchmarks.md ("## Routed transformer inference") and docs/benchmark-results/transformer-inference.json.

    python benchmarks/transformer_inference.py            # ~1 minute
    python benchmarks/transformer_inference.py --render docs/benchmark-results/transformer-inference.json

The network has random weights (its routers' last layers drawn, so that every branch is taken);
what is timed does not depend on them. Two mixes of paths: the routers' own decisions, and exits
forced to a third per branch. *ideal* = dense ops / mean routed ops (dense: every node and router on
every example, ``model(x)``); *realized* = dense time / routed time (``route(model, x)``), the two
timed side by side in one run, round by round, medians over rounds (benchmarks/timing.py).
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

import timing  # noqa: E402
from docs_section import publish, save_results  # noqa: E402
from inference_report import fmt_load, fmt_t  # noqa: E402
from timing import machine_info, paired  # noqa: E402

from routegraph.graph import compile_spec  # noqa: E402
from routegraph.infer import route  # noqa: E402
from routegraph.nn import build_model  # noqa: E402
from routegraph.spec import load_spec  # noqa: E402

SECTION = "## Routed transformer inference"
SPEC = HERE.parent / "specs" / "transformer_routed.yaml"
BATCHES = (32, 256)


def network(seed: int = 0):
    """The example's network in eval mode, its routers' last layers drawn (not zero: every branch is taken)."""
    torch.manual_seed(seed)
    model = build_model(compile_spec(load_spec(SPEC))).eval()
    with torch.no_grad():
        for router in model.routers.values():
            last = router.layers[-1]
            last.weight.normal_(0, 3 / last.weight.shape[1] ** 0.5)
    return model


def _forced_thirds(graph, n: int) -> dict:
    (junction,) = graph.junctions
    return {junction.name: torch.arange(n) % len(junction.sinks)}


def measure(model, batch: int, mix: str, rounds: int) -> dict:
    graph = model.graph
    x = torch.randn(batch, *graph.input_shape.dims, generator=torch.Generator().manual_seed(batch))
    force = _forced_thirds(graph, batch) if mix == "forced thirds" else None
    out = route(model, x, force=force)
    mean_ops = out.total_ops / batch
    dense_ops = graph.total_ops  # every node and router: what model(x) computes

    def dense():
        with torch.inference_mode():
            model(x)

    t = paired(lambda: route(model, x, force=force), dense, rounds=rounds)
    ideal = dense_ops / mean_ops
    row = {"batch": batch, "mix": mix, "dense_ops": dense_ops, "mean_ops": mean_ops, "ideal": ideal,
           "t_dense": t.b / batch, "t_routed": t.a / batch, "realized": t.speedup, "ratio": t.speedup / ideal,
           "exits": torch.bincount(out.exit, minlength=len(graph.paths)).tolist(), "rounds": rounds}
    print(f"  batch {batch:>4} {mix:<14} ideal {ideal:.2f}x realized {t.speedup:.2f}x ratio {row['ratio']:.2f} "
          f"exits {row['exits']}", flush=True)
    return row


def render(results: dict) -> str:
    """The docs section from the saved results."""
    info = results["machine"]
    lines = [SECTION, "",
             f"Written by `python benchmarks/transformer_inference.py` on "
             f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(results['started']))} ({results['seconds']:.0f} s). "
             "Network: the routed transformer example (`specs/transformer_routed.yaml`, docs/examples.md): "
             "`torch.nn.TransformerEncoderLayer` module nodes on 16 x 32 sequences, a 3-way junction to branches "
             f"1, 2 and 3 encoder layers deep; paths of {', '.join(f'{o:,}' for o in results['path_ops'])} ops, "
             f"dense evaluation {results['dense_ops']:,} ops per example. Random weights (the routers' last "
             "layers drawn so that every branch is taken).", "",
             f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, {info['threads']} torch "
             f"thread(s), git {info['git']}. Load average at start {fmt_load(info['load_average'])}, at end "
             f"{fmt_load(results['load_end'])} (1, 5, 15 minutes; above the thread count means other jobs ran "
             f"alongside). Clock: {results['clock']}.", "",
             "*ideal* = dense ops / mean routed ops; *realized* = dense time / routed time (`model(x)` under "
             "`torch.inference_mode()` against `route(model, x)`, timed side by side round by round, medians "
             "over rounds); *ratio* = realized / ideal. Mixes: *routers*: the routers' own decisions; "
             "*forced thirds*: a third of the batch down each branch (`route(..., force=...)`; the router still runs).", "",
             "| batch | mix | exits | ideal | dense / example | routed / example | realized | ratio |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in results["rows"]:
        lines.append(f"| {r['batch']} | {r['mix']} | {'/'.join(map(str, r['exits']))} | {r['ideal']:.2f}x | "
                     f"{fmt_t(r['t_dense'])} | {fmt_t(r['t_routed'])} | {r['realized']:.2f}x | {r['ratio']:.2f} |")
    lines += ["", "Both sides run the same modules (PyTorch's own `TransformerEncoderLayer`, its inference fast "
              "path included); routed inference adds the router's own run, the split at the junction and the "
              "gathers of each branch's examples."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="timing rounds per comparison")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--save", default=str(HERE.parent / "docs" / "benchmark-results" / "transformer-inference.json"))
    parser.add_argument("--docs", default=str(HERE.parent / "docs" / "benchmarks.md"))
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--render", metavar="JSON", help="re-render saved results without measuring")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(Path(args.render).read_text())
    else:
        torch.set_num_threads(args.threads)
        timing.use_clock("cpu" if args.threads == 1 else "wall")
        started = time.time()
        results = {"started": started, "machine": machine_info(), "clock": timing.CLOCK["name"]}
        print(f"machine: {results['machine']}")
        model = network()
        results["path_ops"] = [p.ops for p in model.graph.paths]
        results["rows"] = [measure(model, batch, mix, args.rounds) for batch in BATCHES
                           for mix in ("routers", "forced thirds")]
        results["dense_ops"] = results["rows"][0]["dense_ops"]
        results["seconds"] = time.time() - started
        results["load_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        save_results(args.save, results)
    publish(render(results), args.docs, SECTION, write=not args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
