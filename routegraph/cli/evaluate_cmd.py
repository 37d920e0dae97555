"""``routegraph evaluate RUN [--k-cpt K ...]``: table on stdout, evaluations merged into RUN/eval.json.

eval.json holds the run's results on its own data only; on other data (another task with the
same classes, or other data options) the results are printed, and written with ``--json``."""
from __future__ import annotations

from .options import (K_CPT_TYPE, add_batch_size_flag, add_data_flags, add_precision_flag, output_file,
                      parse_key_values, run_precision)


def add_arguments(parser):
    parser.add_argument("run", help="run directory")
    parser.add_argument("--k-cpt", type=K_CPT_TYPE, nargs="+", help="k_cpt value(s) (default: the run's own, or its k_cpt set if dynamic)")
    add_batch_size_flag(parser, 500)
    add_precision_flag(parser)
    add_data_flags(parser, default=None)
    parser.add_argument("--json", dest="json_out", type=output_file,
                        help="also write the evaluations as JSON to this file (the only place results on other "
                             "data than the run's own are written)")


def run(args) -> int:
    from ..infer.predict import evaluation_k_cpts
    from ..train.evaluate import evaluate
    from ..io import atomic_write_json
    from ..runs import EVALUATIONS, write_evaluations
    from ..train.rundir import is_own_data, load_run, load_run_task, task_choice

    run_ = load_run(args.run)
    config = run_.config
    options = parse_key_values(args.data_option, "--data-option")
    task = load_run_task(run_, args.data, args.data_dir, options)
    k_values, note = evaluation_k_cpts(config, run_.graph, args.k_cpt)
    if note:
        print(note)
    precision = run_precision(args, config)
    records = [evaluate(run_.model, task.test_images, task.test_labels, k, batch_size=args.batch_size,
                        precision=precision) for k in k_values]
    print_table(records, config)
    if is_own_data(run_, args.data, options):
        write_evaluations(run_.path, config["run_id"], task.class_names, records)
        print(f"wrote {run_.path / EVALUATIONS}")
    else:
        name, used = task_choice(run_, args.data, options)
        print(f"note: {name} {used or ''} is not the data this run was trained on ({config['data']} "
              f"{config.get('data_options') or ''}); eval.json keeps the run's own results"
              + ("" if args.json_out else " (write these with --json FILE)"))
    if args.json_out:
        name, used = task_choice(run_, args.data, options)
        atomic_write_json(args.json_out, {"run_id": config["run_id"], "data": name, "data_options": used,
                                          "class_names": list(task.class_names), "evaluations": records})
        print(f"wrote {args.json_out}")
    return 0


def print_table(records: list[dict], config: dict) -> None:
    """Summary, then one row per classifier: where examples exit and how well."""
    for record in records:
        k = "-" if record["k_cpt"] is None else f"{record['k_cpt']:.3g}"
        print(f"{config['run_id']}  k_cpt={k}  error={record['error_rate']:.4f}  "
              f"mean ops={record['mean_ops']:.4g} ({record['mean_ops'] / record['full_ops']:.1%} of the deepest path)  n={record['n']}")
        print(f"  {'classifier':<24} {'layer':>5} {'path ops':>12} {'fraction':>9} {'accuracy':>9}")
        for name, c in record["classifiers"].items():
            acc = "-" if c["accuracy"] is None else f"{c['accuracy']:.4f}"
            print(f"  {name:<24} {c['layer']:>5} {c['path_ops']:>12,} {c['fraction']:>9.3f} {acc:>9}")
