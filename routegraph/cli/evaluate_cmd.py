"""``routegraph evaluate RUN [--k-cpt K ...]``: table on stdout, evaluations merged into RUN/eval.json."""
from __future__ import annotations

from .options import K_CPT_TYPE, add_batch_size_flag, add_data_flags, parse_key_values, routing_k_cpt


def add_arguments(parser):
    parser.add_argument("run", help="run directory")
    parser.add_argument("--k-cpt", type=K_CPT_TYPE, nargs="+", help="k_cpt value(s) (default: the run's own, or its k_cpt set if dynamic)")
    add_batch_size_flag(parser, 500)
    add_data_flags(parser, default=None)


def run(args) -> int:
    from ..train.evaluate import evaluate
    from ..train.rundir import load_run, load_run_task, write_evaluations

    run_ = load_run(args.run)
    config = run_.config
    task = load_run_task(run_, args.data, args.data_dir, parse_key_values(args.data_option, "--data-option"))
    k_values = routing_k_cpt(config, run_.graph, args.k_cpt)
    if k_values == [None] and run_.graph.k_cpt_input:
        k_values = config["k_cpt_set"]
    records = [evaluate(run_.model, task.test_images, task.test_labels, k, batch_size=args.batch_size) for k in k_values]
    write_evaluations(run_.path, config["run_id"], task.class_names, records)
    print_table(records, config)
    print(f"wrote {run_.path / 'eval.json'}")
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
