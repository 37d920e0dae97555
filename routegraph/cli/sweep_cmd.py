"""``routegraph sweep experiments/hybrid.yaml --budget small [--tier 1] [--jobs 2] [--executor ray]``

Runs an experiment file's sweep of trainings: resumable (finished runs are
skipped, others resume from their checkpoints), parallel, with an estimate
printed first. See docs/experiments.md and docs/scale-out.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..checks import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT
from ..methods import is_fixed_path
from .options import number, output_folder


def add_arguments(parser):
    parser.add_argument("experiments", nargs="+", metavar="EXPERIMENT",
                        help="experiment file(s), e.g. experiments/hybrid.yaml (budgets files are skipped)")
    parser.add_argument("--budget", help="budget name from the experiment's budgets (tiny, small, medium, paper)")
    parser.add_argument("--out", type=output_folder, help="output folder (default: runs/<experiment name>/; with several experiments, "
                                      "OUT/<experiment name>/)")
    select = parser.add_argument_group("selection")
    select.add_argument("--only", metavar="GROUPS",
                        help="comma-separated group names or shell patterns, e.g. static,actor or 'actor*'")
    select.add_argument("--tier", type=number(POSITIVE_INT), metavar="N",
                        help="groups of tiers 1..N; routed groups then run at the experiment's tier_k_cpt "
                             "(4 values spread over the set) unless --k-cpt is given")
    select.add_argument("--k-cpt", dest="k_cpt", metavar="LIST",
                        help="k_cpt values of routed groups, comma-separated, e.g. 1e-9,4e-9,1.6e-8,6.4e-8 "
                             "(before a group's k_cpt_divisor; static and dynamic-k_cpt runs are not filtered)")
    select.add_argument("--exits", metavar="LIST",
                        help="exits of static baselines, comma-separated, e.g. 5,8 (routed runs are not filtered)")
    execution = parser.add_argument_group("execution")
    execution.add_argument("--executor", choices=("local", "ray"), default="local", help="default: local")
    execution.add_argument("--jobs", type=number(POSITIVE_INT), default=1,
                           help="local: parallel training processes (default 1, in this process)")
    execution.add_argument("--threads", type=number(POSITIVE_INT), help="local: torch threads per job (default: cores // jobs)")
    execution.add_argument("--address", help="ray: cluster address, e.g. ray://host:10001 or auto "
                                             "(default: RAY_ADDRESS, else a new local instance)")
    execution.add_argument("--max-retries", type=number(NON_NEGATIVE_INT),
                           help="retries of a killed or failed run, each resuming from its checkpoint "
                                "(default: 3 on ray; local: 2, for dead worker processes)")
    execution.add_argument("--cpus-per-run", type=number(POSITIVE), help="ray: CPUs per task (default: the experiment's resources)")
    execution.add_argument("--gpus-per-run", type=number(NON_NEGATIVE), help="ray: GPUs per task (default: the experiment's resources)")
    execution.add_argument("--fail-fast", action="store_true", help="stop at the first failed run")
    parser.add_argument("--data-dir", help="data folder (else $ROUTEGRAPH_DATA, else the per-user cache); "
                                           "on Ray it must exist on every node")
    parser.add_argument("--estimate", choices=("table", "measure", "none"), default="table",
                        help="seconds per step from the experiment's table (default), or measured now on a few "
                             "steps; both are refined by the speeds logged by runs already in --out")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, statuses and estimate; run nothing")
    parser.add_argument("--list", action="store_true", help="list the experiment's groups and budgets and exit")


def run(args) -> int:
    from ..errors import ConfigError
    from ..sweep.expand import parse_k_cpt_list
    from ..sweep.executors import make_executor
    from ..sweep.runner import default_out, plan_sweep, run_sweep
    from ..sweep.schema import load_experiment

    files = _experiment_files(args.experiments)
    only = [p for p in (args.only or "").split(",") if p.strip()] or None
    k_cpt = parse_k_cpt_list(args.k_cpt) if args.k_cpt else None
    experiments = [load_experiment(f) for f in files]
    if args.list:
        for exp in experiments:
            _print_listing(exp)
        return 0
    if not args.budget:
        names = sorted({n for exp in experiments for n in exp.budgets})
        raise ConfigError(f"choose a budget with --budget ({', '.join(names)}); see docs/experiments.md")
    if args.executor == "local" and (args.cpus_per_run or args.gpus_per_run):
        raise ConfigError("--cpus-per-run/--gpus-per-run are for --executor ray; locally use --jobs and --threads")
    if args.executor == "ray" and (args.jobs != 1 or args.threads):
        raise ConfigError("--jobs/--threads are for the local executor; on ray use --cpus-per-run")
    plans = []
    for exp in experiments:
        mine = _only_for(exp, only, len(experiments))
        if mine == []:
            print(f"{exp.name}: no group matches --only {args.only}; skipped")
            continue
        plans.append((exp, plan_sweep(exp, args.budget, only=mine, tier=args.tier, k_cpt=k_cpt,
                                           exits=args.exits)))
    executor = make_executor(args.executor, jobs=args.jobs, threads=args.threads, max_retries=args.max_retries,
                             address=args.address, num_cpus=args.cpus_per_run, num_gpus=args.gpus_per_run,
                             fail_fast=args.fail_fast)
    ok, estimates = True, []
    for exp, plan in plans:
        if not plan.runs:
            print(f"{exp.name}: the selection leaves no runs; skipped")
            continue
        if args.out:
            out = Path(args.out) / exp.name if len(experiments) > 1 else Path(args.out)
        else:
            out = default_out(exp)
        summary = run_sweep(exp, args.budget, out=out, executor=executor, data_dir=args.data_dir,
                            dry_run=args.dry_run, estimate=args.estimate, plan=plan)
        ok = ok and (args.dry_run or not summary.failed)
        estimates.append(summary.estimate_seconds)
        if summary.failed and args.fail_fast:
            break
    if args.dry_run and len(estimates) > 1 and all(e is not None for e in estimates):
        from ..sweep.estimate import format_duration

        print(f"estimated duration of the {len(estimates)} experiments: {format_duration(sum(estimates))}")
    return 0 if ok else 1


def _experiment_files(paths: list[str]) -> list[str]:
    """The experiment files among ``paths``; budgets files (``kind: budgets``) are skipped with a note."""
    import yaml

    from ..errors import ConfigError

    files = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                head = yaml.safe_load(handle)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError:
            head = None  # load_experiment reports it, located
        if isinstance(head, dict) and head.get("kind") == "budgets" and len(paths) > 1:
            print(f"{path}: a budgets file, skipped", file=sys.stderr)
            continue
        files.append(path)
    if not files:
        raise ConfigError("no experiment files given")
    return files


def _only_for(exp, only, n_experiments: int):
    """With several experiments, --only keeps the groups each one has; () when it has none of them."""
    if not only or n_experiments == 1:
        return only
    import fnmatch

    return [p for p in only if any(fnmatch.fnmatchcase(g, p) for g in exp.group_names())]


def _print_listing(exp) -> None:
    model = exp.model
    print(f"{exp.name}: {model.description.strip()}" + (f" [{model.paper}]" if model.paper else ""))
    print(f"  spec {model.spec}, data {model.data}; k_cpt set {', '.join(f'{k:g}' for k in model.k_cpt_set)}; "
          f"tier k_cpt {', '.join(f'{k:g}' for k in model.tier_k_cpt)}")
    print("  groups:")
    for g in model.groups:
        what = (f"static exits {','.join(map(str, g.static_exits or []))}" if is_fixed_path(g.method) else
                "dynamic k_cpt" if g.dynamic_k_cpt else
                f"{len(g.k_cpt) if g.k_cpt is not None else len(model.k_cpt_set)} k_cpt values"
                + (f" / {g.k_cpt_divisor:g}" if g.k_cpt_divisor != 1 else ""))
        extra = ", ".join(f"{k}={v}" for k, v in {**g.overrides, **g.train}.items())
        print(f"    {g.name:<22} tier {g.tier if g.tier is not None else '-':<3} {g.method:<18} {what}"
              + (f"  [{extra}]" if extra else "") + (f"  spec {g.spec}" if g.spec else ""))
    print("  budgets:")
    for budget in exp.budgets.values():
        print(f"    {budget.describe()}")
