"""``routegraph plot``: accuracy/efficiency curves (Figs. 5, 9, 10) or dataflow over training (Fig. 8).

    routegraph plot runs/sr-* runs/ac-* runs/cr-* -o curves.png    # one curve per method, from config.json
    routegraph plot runs/ -o curves.svg                            # every run below runs/
    routegraph plot runs/ac-4e-9 --over-training -o heat.png       # Fig. 8 heatmap from metrics.jsonl
"""
from __future__ import annotations

from .options import output_file


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run directories, directories of runs, or glob patterns")
    parser.add_argument("-o", "--out", metavar="FILE", type=output_file,
                        help="output file: .png, .svg or .pdf (default: curves.png, or dataflow-training.png)")
    parser.add_argument("--over-training", action="store_true",
                        help="plot the fraction of validation images per classifier over training (Fig. 8) "
                             "instead of the accuracy/efficiency curves")
    parser.add_argument("--log-x", action="store_true", help="curves: logarithmic op-count axis")
    parser.add_argument("--title", help="a title above the plot")


def run(args) -> int:
    from ..viz.runs import find_runs

    runs = find_runs(args.runs)
    if args.over_training:
        from ..viz.heatmap import plot_over_training

        path = plot_over_training(runs, args.out or "dataflow-training.png", title=args.title)
        print(f"wrote {path} ({len(runs)} run{'s' if len(runs) != 1 else ''})")
        return 0
    from ..viz.curves import plot_curves

    path, curves = plot_curves(runs, args.out or "curves.png", title=args.title, log_x=args.log_x)
    used = sum(len(c.runs) for c in curves)
    print(f"wrote {path}: {len(curves)} curve{'s' if len(curves) != 1 else ''} from {used} run{'s' if used != 1 else ''}")
    for curve in curves:
        print(f"  {curve.label}: {len(curve.points)} point{'s' if len(curve.points) != 1 else ''}")
    skipped = [r.name for r in runs if not r.evaluations]
    if skipped:
        print(f"  left out (no eval.json): {', '.join(skipped)}")
    return 0
