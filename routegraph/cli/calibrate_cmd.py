"""``routegraph calibrate RUN --budget-ops OPS [--data TASK]``: pick k_cpt for an ops budget.

For a dynamic-k_cpt run, splits the run's validation split (held out from training; the test
split is left to ``evaluate``) in two halves: the *calibration* half picks the smallest k_cpt
whose mean op count meets the budget (bisection in log k_cpt, routers only); the
*verification* half then runs the real path-only executor at that k_cpt (the workflow is
:func:`routegraph.infer.budget.calibrate_saved_run`; this command parses and prints). For a fixed-k_cpt run it
explains that the op count is fixed and reports it.

A run with no validation split (trained before they existed, or with val_fraction 0) is
refused (exit 2): the images it trained on would make the pick look cheaper and more
accurate than it is on new images. ``--on-test-split`` calibrates such a run on its test
split instead, the only images it has not seen; the JSON then says ``"split": "test"``
and ``"held_out": false``, since the test accuracy at that k_cpt is no longer independent.

Exit status: 0 when the budget is met (for a dynamic run: on the verification
half), 1 when it is not, 2 on errors. ``"met"`` in the JSON says the same.
"""
from __future__ import annotations

import sys

from ..checks import NON_NEGATIVE_INT, POSITIVE, Bound
from .options import (add_batch_size_flag, add_precision_flag, add_threads_flag, apply_threads_flag, number,
                      output_file, run_precision)


def add_arguments(parser):
    parser.add_argument("run", help="run directory (written by 'routegraph train')")
    parser.add_argument("--budget-ops", type=number(POSITIVE), required=True,
                        help="mean multiply-accumulates per image to stay within, e.g. 5e6")
    parser.add_argument("--data", help="task whose validation split is used (default: the run's own task)")
    parser.add_argument("--data-dir", help="data directory (else $ROUTEGRAPH_DATA, else the per-user cache)")
    parser.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                        help="task option, e.g. n_test=2000 for the synthetic task (default: the run's)")
    parser.add_argument("--limit", type=number(Bound(int, 2)), help="use at most this many validation images (a random subset)")
    parser.add_argument("--seed", type=number(NON_NEGATIVE_INT), default=0,
                        help="seed of the random subset and calibration/verification halves")
    parser.add_argument("--on-test-split", action="store_true",
                        help="for a run with no validation split (trained before they existed, or with "
                             "val_fraction 0): calibrate on its test split, marked not held out (refused otherwise)")
    add_batch_size_flag(parser, 500)
    parser.add_argument("--json", dest="json_out", type=output_file, help="also write the result as JSON to this file")
    add_threads_flag(parser)
    add_precision_flag(parser)


def run(args) -> int:
    from ..infer.budget import calibrate_saved_run
    from ..io import atomic_write_json
    from .options import parse_key_values

    apply_threads_flag(args)
    from ..train.rundir import load_run

    run_ = load_run(args.run)
    found = calibrate_saved_run(run_, args.budget_ops, data=args.data, data_dir=args.data_dir,
                                data_options=parse_key_values(args.data_option, "--data-option"), limit=args.limit,
                                seed=args.seed, on_test_split=args.on_test_split, batch_size=args.batch_size,
                                precision=run_precision(args, run_.config))
    config, result = found.run.config, found.result
    if not found.held_out:
        print(f"warning: calibrating run {config.get('run_id')} on its test split (--on-test-split): the result is "
              "not held out, and the test accuracy at the picked k_cpt is no longer an independent estimate",
              file=sys.stderr)
    print_result(result, config, found.task, found.split, found.run.path)
    if args.json_out:
        atomic_write_json(args.json_out, found.to_json())
        print(f"wrote {args.json_out}")
    return 0 if result.met else 1


def print_result(result, config: dict, task: str, split: str, run_path) -> None:
    """What was searched, the pick, and the verdict."""
    full, budget, run_id = result.full_ops, result.budget_ops, config.get("run_id")
    if not result.dynamic_k_cpt:
        print(f"{run_id}: trained with a fixed k_cpt={config.get('k_cpt')}; its routers do not read k_cpt, "
              f"so its op count is fixed and cannot be calibrated.")
        print(f"  on the {split} split of {task} ({result.n} images, {result.seconds:.1f} s): "
              f"mean ops {result.mean_ops:.4g} ({result.mean_ops / full:.1%} of the deepest path), "
              f"accuracy {result.accuracy:.4f}")
        print(f"  budget {budget:.4g}: {'met' if result.met else 'NOT met'}."
              + ("" if result.met else " Train with --dynamic-k-cpt to get a network you can calibrate, "
                                       "or a fixed-k_cpt network with a larger k_cpt."))
        return
    found = result.calibration
    print(f"{run_id}: dynamic k_cpt; budget {budget:.4g} ops per image ({budget / full:.1%} of the deepest path, "
          f"{full:,} ops)")
    print(f"  calibration half: {result.n} {split} images of {task}; {len(found.points)} k_cpt values scored "
          f"(routers only) in {result.seconds:.1f} s")
    print(f"  {'k_cpt':>10} {'mean ops':>12} {'accuracy':>9}")
    trained = {float(k) for k in config.get("k_cpt_set") or []}
    for p in found.points:
        if p.k_cpt in trained or p.k_cpt == found.k_cpt:
            mark = "  <- pick" if p.k_cpt == found.k_cpt else ""
            print(f"  {p.k_cpt:>10.4g} {p.mean_ops:>12.4g} {p.accuracy:>9.4f}{mark}")
    if found.non_monotone:
        pairs = ", ".join(f"{a:.3g}->{b:.3g}" for a, b in found.non_monotone)
        print(f"  note: mean ops rose with k_cpt between {pairs}; the pick is the smallest k_cpt seen that meets the budget")
    if found.note:
        print(f"  {found.note}")
    if not found.met:
        print(f"  budget NOT met: the cheapest setting spends {found.mean_ops:.4g} ops per image")
        return
    check = result.verification
    print(f"  pick: k_cpt = {found.k_cpt:.4g}: mean ops {found.mean_ops:.4g}, accuracy {found.accuracy:.4f} (calibration half)")
    print(f"  verified with path-only inference on the other half ({check.n} images): mean ops {check.mean_ops:.4g} "
          f"({check.mean_ops / full:.1%} of the deepest path), accuracy {check.accuracy:.4f}")
    if not check.met:
        print(f"  budget NOT met: the verification half spends {check.mean_ops:.4g} ops per image, "
              f"{result.overshoot:.1%} over the budget: the pick does not hold on images it was not chosen on "
              f"(calibrate on more images, or ask for a lower budget to leave a margin)")
        return
    print("  budget met on the verification half")
    print(f"  use it: routegraph predict {run_path} IMAGES.npy --k-cpt {found.k_cpt:.4g}")
