"""``routegraph calibrate RUN --budget-ops OPS [--data TASK]``: pick k_cpt for an ops budget.

For a dynamic-k_cpt run, splits the test split (held out from training) in two halves: the
*calibration* half picks the smallest k_cpt whose mean op count meets the
budget (bisection in log k_cpt, routers only -- see
:mod:`routegraph.infer.calibrate`); the *verification* half then runs the real
path-only executor at that k_cpt and reports its mean ops and accuracy. For a
fixed-k_cpt run it explains that the op count is fixed and reports it.

Exit status: 0 when the budget is met, 1 when it cannot be met, 2 on errors.
"""
from __future__ import annotations

import json
import time


def add_arguments(parser):
    parser.add_argument("run", help="run directory (written by 'routegraph train')")
    parser.add_argument("--budget-ops", type=float, required=True, help="mean multiply-accumulates per image to stay within, e.g. 5e6")
    parser.add_argument("--data", help="task whose test split is used (default: the run's own task)")
    parser.add_argument("--data-dir", help="data directory (else $ROUTEGRAPH_DATA, else the per-user cache)")
    parser.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                        help="task option, e.g. n_test=2000 for the synthetic task (default: the run's)")
    parser.add_argument("--limit", type=int, help="use at most this many test images (a random subset)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random subset and calibration/verification halves")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--json", dest="json_out", help="also write the result as JSON to this file")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def run(args) -> int:
    import torch

    from ..errors import ConfigError
    from ..infer import route
    from ..infer.calibrate import calibrate, router_table
    from ..train.rundir import load_run, load_run_task
    from .options import parse_key_values

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.budget_ops > 0:
        raise ConfigError(f"--budget-ops must be positive, got {args.budget_ops}")
    run_ = load_run(args.run)
    config, graph, model = run_.config, run_.graph, run_.model
    task = load_run_task(run_, args.data, args.data_dir, parse_key_values(args.data_option, "--data-option"))
    args.split = "test"  # held out from training
    images, labels = task.images(args.split), task.labels(args.split)
    # a random (seeded) order: the test splits are sorted by source or class, so --limit must not take a prefix
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))
    if args.limit:
        order = order[: args.limit]
    images, labels = images[order].float(), labels[order]
    if len(images) < 2:
        raise ConfigError(f"the {args.split} split of {task.name!r} has {len(images)} image(s); need at least 2")
    full = max(p.ops for p in graph.paths)
    budget = args.budget_ops
    result = {"run_id": config.get("run_id"), "budget_ops": budget, "task": task.name, "split": args.split,
              "full_ops": full, "dynamic_k_cpt": bool(graph.k_cpt_input)}

    if not graph.k_cpt_input:
        start = time.perf_counter()
        out = route(model, images, batch_size=args.batch_size)
        accuracy = (out.predictions == labels).double().mean().item()
        met = out.mean_ops <= budget
        print(f"{config.get('run_id')}: trained with a fixed k_cpt={config.get('k_cpt')}; its routers do not read k_cpt, "
              f"so its op count is fixed and cannot be calibrated.")
        print(f"  on the {args.split} split of {task.name} ({len(images)} images, {time.perf_counter() - start:.1f} s): "
              f"mean ops {out.mean_ops:.4g} ({out.mean_ops / full:.1%} of the deepest path), accuracy {accuracy:.4f}")
        print(f"  budget {budget:.4g}: {'met' if met else 'NOT met'}."
              + ("" if met else " Train with --dynamic-k-cpt to get a network you can calibrate, "
                                "or a fixed-k_cpt network with a larger k_cpt."))
        result.update({"k_cpt": None, "met": met, "mean_ops": out.mean_ops, "accuracy": accuracy, "n": len(images)})
        _write_json(args.json_out, result)
        return 0 if met else 1

    # halves of the (already shuffled) images: calibrate on one, verify on the other
    cal, ver = torch.arange(len(images) // 2), torch.arange(len(images) // 2, len(images))
    start = time.perf_counter()
    table = router_table(model, images[cal], batch_size=args.batch_size)
    k_set = config.get("k_cpt_set") or [0.0, 1e-9, 2e-9, 4e-9, 8e-9, 1.6e-8, 3.2e-8, 6.4e-8]
    found = calibrate(table, labels[cal], budget, k_set)
    search_s = time.perf_counter() - start

    print(f"{config.get('run_id')}: dynamic k_cpt; budget {budget:.4g} ops per image "
          f"({budget / full:.1%} of the deepest path, {full:,} ops)")
    print(f"  calibration half: {len(cal)} {args.split} images of {task.name}; {len(found.points)} k_cpt values scored "
          f"(routers only) in {search_s:.1f} s")
    print(f"  {'k_cpt':>10} {'mean ops':>12} {'accuracy':>9}")
    trained = {float(k) for k in k_set}
    for p in found.points:
        if p.k_cpt in trained or p.k_cpt == found.k_cpt:
            mark = "  <- pick" if p.k_cpt == found.k_cpt else ""
            print(f"  {p.k_cpt:>10.4g} {p.mean_ops:>12.4g} {p.accuracy:>9.4f}{mark}")
    if found.non_monotone:
        pairs = ", ".join(f"{a:.3g}->{b:.3g}" for a, b in found.non_monotone)
        print(f"  note: mean ops rose with k_cpt between {pairs}; the pick is the smallest k_cpt seen that meets the budget")
    if found.note:
        print(f"  {found.note}")
    result.update({"calibration": {"n": len(cal), "points": [vars(p) for p in found.points],
                                   "non_monotone": found.non_monotone}})
    if not found.met:
        print(f"  budget NOT met: the cheapest setting spends {found.mean_ops:.4g} ops per image")
        result.update({"k_cpt": None, "met": False, "mean_ops": found.mean_ops, "accuracy": found.accuracy})
        _write_json(args.json_out, result)
        return 1

    check = route(model, images[ver], found.k_cpt, batch_size=args.batch_size)
    accuracy = (check.predictions == labels[ver]).double().mean().item()
    print(f"  pick: k_cpt = {found.k_cpt:.4g}: mean ops {found.mean_ops:.4g}, accuracy {found.accuracy:.4f} (calibration half)")
    print(f"  verified with path-only inference on the other half ({len(ver)} images): mean ops {check.mean_ops:.4g} "
          f"({check.mean_ops / full:.1%} of the deepest path, budget {'met' if check.mean_ops <= budget else 'exceeded by ' + format(check.mean_ops / budget - 1, '.1%')}), "
          f"accuracy {accuracy:.4f}")
    print(f"  use it: routegraph predict {run_.path} IMAGES.npy --k-cpt {found.k_cpt:.4g}")
    result.update({"k_cpt": found.k_cpt, "met": True, "mean_ops": found.mean_ops, "accuracy": found.accuracy,
                   "verification": {"n": len(ver), "mean_ops": check.mean_ops, "accuracy": accuracy,
                                    "met": check.mean_ops <= budget}})
    _write_json(args.json_out, result)
    return 0


def _write_json(path, result) -> None:
    if path:
        with open(path, "w") as handle:
            json.dump(result, handle, indent=1)
        print(f"wrote {path}")
