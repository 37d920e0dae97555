"""Shared CLI options: --set overrides, data options, TrainConfig fields as flags."""
from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

from ..errors import ConfigError

# settings with their own, friendlier flags
_RENAMED = {"method": "--strategy", "static_classifier": "--static-exit"}
_HELP = {
    "method": "static | actor | pragmatic_critic | optimistic_critic",
    "static_classifier": "for --strategy static: the classifier (name, or 1-based index in path order) the baseline ends at",
    "k_cpt": "cost per multiply-accumulate",
    "dynamic_k_cpt": "routers read k_cpt; train on k_cpt drawn from --k-cpt-set",
    "schedule": "auto (paper schedule from 40k iterations, else the small-budget one) | paper | small",
    "talr": "throughput-adjusted learning rates",
    "regularized_policy": "let c_mod's gradient reach the routing policy",
    "error": "error used in critic targets: cross_entropy | zero_one",
    "fast": "fast mode (same results as plain mode)",
    "cuda_graph": "on a GPU, capture the training step once as a CUDA graph and replay it (same results; one process only)",
    "dist_backend": "torchrun process-group backend: auto (nccl with one GPU per process, else gloo) | gloo | nccl",
    "sync_batch_norm": "under torchrun, batch-norm statistics over the global batch (--no-sync-batch-norm: per process)",
}


def add_train_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (defaults: None, meaning 'the config's default')."""
    from ..train.config import TrainConfig

    group = parser.add_argument_group("training settings (defaults: the paper's; see docs/training.md)")
    for f in fields(TrainConfig):
        flag = _RENAMED.get(f.name, "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        help_ = _HELP.get(f.name, "") + (f" (default: {default})" if default is not None else "")
        if isinstance(default, bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif isinstance(default, tuple):
            group.add_argument(flag, dest=f.name, type=float, nargs="+", default=None, help=help_)
        else:
            kind = type(default) if default is not None else (float if "half_life" in f.name or f.name in ("lr", "tau") else str)
            group.add_argument(flag, dest=f.name, type=kind, default=None, help=help_)
    group.add_argument("--config", dest="config_file", help="YAML file of training settings (flags win)")


def train_config_from_args(args, **forced):
    """TrainConfig from a YAML config file, then flags, then ``forced``."""
    from ..train.config import TrainConfig

    values = {}
    if getattr(args, "config_file", None):
        values.update(_read_yaml_mapping(args.config_file))
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = tuple(value) if isinstance(value, list) else value
    values.update(forced)
    _reject_unknown(values, {f.name for f in fields(TrainConfig)})
    try:
        return TrainConfig.from_json(values)
    except TypeError as exc:
        raise ConfigError(f"bad training setting: {exc}") from None


def _reject_unknown(values: dict, known: set) -> None:
    from ..errors import did_you_mean

    bad = sorted(set(values) - known)
    if not bad:
        return
    hints = [f"{b!r}" + (f" ({did_you_mean(b, known)})" if did_you_mean(b, known) else "") for b in bad]
    raise ConfigError(f"unknown training setting(s): {', '.join(hints)} (known: {', '.join(sorted(known))})")


def _read_yaml_mapping(path) -> dict:
    import yaml

    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of training settings")
    return data


def parse_key_values(pairs: list[str] | None, what: str) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``, values parsed as YAML scalars."""
    import yaml

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def add_data_flags(parser: argparse.ArgumentParser, default: str | None = "synthetic") -> None:
    parser.add_argument("--data", default=default, help="task name" + (f" (default: {default})" if default else ""))
    parser.add_argument("--data-dir", help="data directory (else $ROUTEGRAPH_DATA, else the per-user cache)")
    parser.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                        help="task option, e.g. n_train=2000 for the synthetic task")
