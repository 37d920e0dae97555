"""``routegraph train SPEC --strategy actor --k-cpt 4e-9 --data hybrid --iterations 3000 --out runs/ac``"""
from __future__ import annotations

from .options import add_data_flags, add_train_config_flags, output_folder, parse_key_values, train_config_from_args


def add_arguments(parser):
    parser.add_argument("spec", help="the network spec (YAML)")
    parser.add_argument("--out", required=True, type=output_folder, help="run directory to write")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--set", action="append", metavar="PARAM=VALUE", help="override a spec parameter, e.g. width=2")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_flags(parser)
    add_train_config_flags(parser)


def run(args) -> int:
    from ..spec import parse_overrides
    from ..train.run import train_run

    config = train_config_from_args(args)
    result = train_run(args.spec, args.out, config, data=args.data, data_dir=args.data_dir,
                       data_options=parse_key_values(args.data_option, "--data-option"),
                       overrides=parse_overrides(args.set or []), resume=args.resume, progress=not args.no_progress)
    if result.evaluations:  # rank 0 only under torchrun
        from .evaluate_cmd import print_table

        print_table(result.evaluations, result.config)
        print(f"wrote {result.path}/ (config.json, compiled.json, checkpoint.pt, metrics.jsonl, eval.json)")
    return 0
