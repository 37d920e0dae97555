"""Print the tables of docs/results.md from saved run records (config.json + eval.json).

    python scripts/results_table.py docs/results/runs/hybrid-small-gpu docs/results/runs/hybrid-small-cpu

For every routed evaluation: its error and mean op count; the error of the
statically-routed nets at the same mean op count (linear interpolation between
the two static nets around it, as the paper's curves connect them); and the
lowest error any mix of static nets reaches at that cost (the lower convex hull
of the static points: the strictest static baseline, since the static curve is
not monotone at small budgets).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from routegraph.graph.layering import classifier_layers
from routegraph.viz.runs import load_run_info


def load(folders):
    rows = []
    for folder in folders:
        for run in sorted(Path(folder).glob("*/eval.json")):
            config = json.loads((run.parent / "config.json").read_text())
            for record in json.loads(run.read_text())["evaluations"]:
                rows.append({"run": run.parent.name, "where": Path(folder).name, "label": config["label"],
                             "method": config["method"], "k_cpt": record["k_cpt"], "dynamic": config["k_cpt"] is None,
                             "error": record["error_rate"], "ops": record["mean_ops"]})
    return rows


def static_error_at(static, ops):
    """The static curve (error against ops, by depth) at ``ops``; None outside its range."""
    for a, b in zip(static, static[1:]):
        if a["ops"] <= ops <= b["ops"]:
            t = (ops - a["ops"]) / (b["ops"] - a["ops"])
            return a["error"] + t * (b["error"] - a["error"])
    return None


def print_exit_layers(folders) -> None:
    """Mean exit layer (the layer index of the exit's classifier, 1-based: layer 8 on the
    8-layer chain, not its 7 routing decisions) per routed evaluation: of MNIST digits and of
    CIFAR objects on the hybrid task (digits are the classes named '0'..'4'), else of every
    class, shallowest and deepest class named."""
    header = None
    for folder in folders:
        for run in sorted(Path(folder).glob("*/eval.json")):
            config = json.loads((run.parent / "config.json").read_text())
            data = json.loads(run.read_text())
            if config["method"] == "static":
                continue
            names = data["class_names"]
            layer_of = classifier_layers(load_run_info(run.parent).graph)
            digits = [i for i, name in enumerate(names) if name.isdigit()]
            if header is None:
                header = ("| mean exit layer, digits | mean exit layer, objects |" if digits else
                          "| mean exit layer | shallowest class | deepest class |")
                print(f"\n| nets | k_cpt | where {header}")
                print("|---" * (header.count("|") + 2) + "|")
            for record in data["evaluations"]:
                depth, count = [0.0] * len(names), [0] * len(names)
                for classifier, info in record["classifiers"].items():
                    for k in range(len(depth)):
                        n = info["correct_by_class"][k] + info["incorrect_by_class"][k]
                        depth[k] += layer_of[classifier] * n
                        count[k] += n
                mean = lambda ks: sum(depth[k] for k in ks) / max(sum(count[k] for k in ks), 1)  # noqa: E731
                if digits:
                    objects = [k for k in range(len(depth)) if k not in digits]
                    cells = f"{mean(digits):.2f} | {mean(objects):.2f}"
                else:
                    order = sorted(range(len(names)), key=lambda k: mean([k]))
                    cells = (f"{mean(range(len(names))):.2f} | {names[order[0]]} {mean(order[:1]):.2f} "
                             f"| {names[order[-1]]} {mean(order[-1:]):.2f}")
                print(f"| {config['label']} | {record['k_cpt']:.1e} | {Path(folder).name} | {cells} |")


def static_hull_at(static, ops):
    """The best error any mix of static nets reaches at mean cost ``ops``: the lower convex
    hull of the static (ops, error) points, flat beyond the best net; None below the cheapest.
    (Sending a fraction of the images through each of two static nets realises every point
    on the segment between them, so this is the strictest static baseline.)"""
    points = sorted((r["ops"], r["error"]) for r in static)
    if not points or ops < points[0][0] * (1 - 1e-9):
        return None
    hull = []
    for point in points:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) <= 0:
            hull.pop()
        hull.append(point)
    best = min(range(len(hull)), key=lambda i: hull[i][1])
    hull = hull[:best + 1]  # past the best net, more ops buy nothing
    for (x0, y0), (x1, y1) in zip(hull, hull[1:]):
        if x0 <= ops <= x1:
            return y0 + (ops - x0) / (x1 - x0) * (y1 - y0)
    return hull[-1][1] if ops >= hull[-1][0] else hull[0][1]


def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def main(folders) -> int:
    rows = load(folders)
    static = sorted((r for r in rows if r["method"] == "static"), key=lambda r: r["ops"])
    print("| nets | k_cpt | where | test error | mean ops | static, interpolated at the same ops | difference "
          "| best mix of static nets at the same ops | difference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in static:
        print(f"| {r['label']} ({r['run']}) | - | {r['where']} | {r['error']:.4f} | {r['ops'] / 1e6:.2f} M | | | | |")
    for r in sorted((r for r in rows if r["method"] != "static"), key=lambda r: (r["label"], r["k_cpt"])):
        cells = []
        for ref in (static_error_at(static, r["ops"]), static_hull_at(static, r["ops"])):
            cells += ["outside", ""] if ref is None else [f"{ref:.4f}", f"{r['error'] - ref:+.4f}"]
        print(f"| {r['label']} | {r['k_cpt']:.1e} | {r['where']} | {r['error']:.4f} | {r['ops'] / 1e6:.2f} M | "
              + " | ".join(cells) + " |")
    print_exit_layers(folders)
    best = min(static, key=lambda r: r["error"]) if static else None
    if best:
        print(f"\nbest static net: {best['label']} {best['run']}, error {best['error']:.4f} at {best['ops'] / 1e6:.2f} M ops")
        reach = [r for r in rows if r["method"] != "static" and r["error"] <= best["error"]]
        for r in sorted(reach, key=lambda r: r["ops"]):
            print(f"  reached by {r['label']} k_cpt {r['k_cpt']:.1e}: {r['error']:.4f} at {r['ops'] / 1e6:.2f} M ops "
                  f"(best static ops / these ops = {best['ops'] / r['ops']:.2f})")
        if not reach:
            print("  no routed net reaches it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
