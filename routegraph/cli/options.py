"""Shared CLI options: --set overrides, data options, TrainConfig fields as flags."""
from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

from ..checks import K_CPT, MAX_THREADS, POSITIVE_INT, Bound
from ..errors import ConfigError

# settings with their own, friendlier flags
_RENAMED = {"method": "--strategy", "static_classifier": "--static-exit"}
_HELP = {
    "method": "static | actor | pragmatic_critic | optimistic_critic",
    "iterations": "training steps",
    "batch_size": "images per step (under torchrun: the global batch)",
    "seed": "seed of the initial weights, the batch order, the augmentation and the k_cpt draws",
    "schedule": "auto (paper schedule from 40k iterations, else the small-budget one) | paper | small",
    "lr": "initial SGD learning rate (default: from --schedule; paper 0.1, small 0.02)",
    "lr_half_life": "iterations in which the learning rate halves (default: from --schedule; paper 10,000, "
                    "small half the run)",
    "momentum": "SGD momentum",
    "tau": "initial temperature of the training policy softmax(s / tau) (default: 1.0 for the actor, "
           "0.1 for critics)",
    "tau_half_life": "iterations in which tau halves (default: from --schedule; paper 20,000, small a quarter "
                     "of the run)",
    "k_cpt": "cost per multiply-accumulate",
    "dynamic_k_cpt": "routers read k_cpt; train on k_cpt drawn from --k-cpt-set",
    "k_cpt_set": "k_cpt values a dynamic-k_cpt run draws from, and the ones it is evaluated at",
    "k_cpt_input_scale": "dynamic k_cpt: the routers read this times k_cpt as their extra input (the reference's 1e7; "
                         "larger values make small-budget routers follow k_cpt more)",
    "eps": "exploration floor of the training policy: every path keeps a probability of about eps times "
           "its share of the leaves (docs/training.md)",
    "error": "error used in critic targets: cross_entropy | zero_one",
    "k_dec": "weight of the router-score decay k_dec * sum_j sg(p(j)) ||s_j||^2 (actor)",
    "k_ure": "weight of the critics' utility-regression loss",
    "k_l2": "weight of the path-weighted L2 penalty c_mod",
    "talr": "throughput-adjusted learning rates",
    "regularized_policy": "let c_mod's gradient reach the routing policy",
    "static_classifier": "for --strategy static: the classifier (name, or 1-based index in path order) the baseline ends at",
    "log_every": "write a line to metrics.jsonl every this many iterations",
    "eval_every": "evaluate on the validation images every this many iterations (0: never; the test split "
                  "is evaluated once, at the end)",
    "eval_examples": "periodic evaluation: a fixed random sample of this many validation images (0: all)",
    "val_fraction": "share of the training images held out as the validation split (stratified, fixed seed; "
                    "not trained on) when the task has no val split of its own; 0: none",
    "val_max": "at most this many held-out validation images (0: no cap)",
    "checkpoint_every": "save checkpoint.pt every this many iterations, and at the end (0: only at the end)",
    "augment": "augment the training images: random shifts (±4 px at 32 px, scaled with the image) with mean-colour "
               "fill, and flips of flip-symmetric classes (--no-augment: the images as they are)",
    "threads": "torch CPU threads (0: torch's choice, one per core)",
    "device": "auto (a CUDA GPU if there is one, else the CPU) | cpu | cuda | cuda:N",
    "fast": "fast mode (same results as plain mode)",
    "cuda_graph": "on a GPU, capture the training step once as a CUDA graph and replay it (same results; one process only)",
    "dist_backend": "torchrun process-group backend: auto (nccl with one GPU per process, else gloo) | gloo | nccl",
    "sync_batch_norm": "under torchrun, batch-norm statistics over the global batch (--no-sync-batch-norm: per process)",
}


def number(bound: Bound):
    """An argparse ``type`` that accepts the numbers ``bound`` allows; others are a usage error (exit 2)."""

    def parse(text: str):
        try:
            value = bound.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {bound.allowed(finite=True)} (got {text!r})") from None
        problem = bound.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = bound.kind.__name__  # argparse names the type in some messages
    parse.bound = bound  # for tests that walk every option
    return parse


K_CPT_TYPE = number(K_CPT)
THREADS_HELP = "torch CPU threads (default: torch's choice)"


def add_threads_flag(parser, help_: str = THREADS_HELP) -> None:
    """``--threads N``: torch CPU threads, N >= 1 (apply with :func:`apply_threads_flag`)."""
    parser.add_argument("--threads", type=number(Bound(int, 1, hi=MAX_THREADS, hi_inclusive=True)), help=help_)


def apply_threads_flag(args) -> None:
    if getattr(args, "threads", None):
        from ..train.loop import apply_threads

        apply_threads(args.threads)


def add_batch_size_flag(parser, default: int) -> None:
    parser.add_argument("--batch-size", type=number(POSITIVE_INT), default=default,
                        help=f"images per forward pass (default: {default}; only memory and speed depend on it)")


def output_file(text: str) -> str:
    """An argparse ``type`` for an output file option: refused at once if it cannot be written ('-' passes)."""
    return text if text == "-" else _writable(text, folder=False)


def output_folder(text: str) -> str:
    """An argparse ``type`` for an output folder option (created later if missing)."""
    return _writable(text, folder=True)


def _writable(text: str, folder: bool) -> str:
    from ..io import check_writable

    try:
        check_writable(text, folder=folder)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_train_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (defaults: None, meaning 'the config's default'),
    numbers checked against the field's bound (``TrainConfig.BOUNDS``) as they are parsed."""
    from ..train.config import BOUNDS, TrainConfig

    group = parser.add_argument_group("training settings (defaults: the paper's; see docs/training.md)")
    for f in fields(TrainConfig):
        flag = _RENAMED.get(f.name, "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        help_ = _HELP[f.name] + (f" (default: {default})" if default is not None else "")
        if isinstance(default, bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif isinstance(default, tuple):
            group.add_argument(flag, dest=f.name, type=K_CPT_TYPE, nargs="+", default=None, help=help_)
        elif f.name in BOUNDS:
            group.add_argument(flag, dest=f.name, type=number(BOUNDS[f.name]), default=None, help=help_)
        else:
            group.add_argument(flag, dest=f.name, type=str, default=None, help=help_)
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
    """A YAML mapping of settings, read as specs are (``1e-9`` is a float; errors are located)."""
    from ..located.tree import parse_located, plain, read_text

    text = read_text(path, "the settings file")
    data = plain(parse_located(text, str(path))) if text.strip() else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of training settings")
    return data


def parse_key_values(pairs: list[str] | None, what: str) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``, values parsed as YAML scalars (as in specs).

    >>> parse_key_values(["n_train=2000", "k=1e-9", "name=x"], "--data-option")
    {'n_train': 2000, 'k': 1e-09, 'name': 'x'}
    """
    from ..located.tree import parse_scalar

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = parse_scalar(value) if value.strip() else None
    return out


def add_data_flags(parser: argparse.ArgumentParser, default: str | None = "synthetic") -> None:
    parser.add_argument("--data", default=default, help="task name, or folder:PATH for your own images (train/<class>/*, "
                        "test/<class>/*), or npz:PATH for your own arrays (x_train, y_train, x_test, y_test; "
                        "docs/data.md)" + (f" (default: {default})" if default else ""))
    parser.add_argument("--data-dir", help="data directory (else $ROUTEGRAPH_DATA, else the per-user cache)")
    parser.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                        help="task option, e.g. n_train=2000 for the synthetic task, resize=stretch for a folder")


#: Arguments that name a spec, a run or an experiment file: commands with one take --allow-import.
_LOADS = ("spec", "run", "runs", "targets", "experiments")


def add_allow_import_flag(parser: argparse.ArgumentParser) -> None:
    """``--allow-import PREFIX`` (repeatable) on a command that loads a spec or a run (one with an
    argument or option named as in ``_LOADS``); :func:`routegraph.cli.main.run_guarded` applies it."""
    from ..imports import DEFAULT_ALLOWED, ENV_VAR

    if any(action.dest in _LOADS for action in parser._actions):
        parser.add_argument("--allow-import", action="append", metavar="PREFIX",
                            help=f"let module nodes import from PREFIX (and below it); repeatable; besides "
                                 f"{', '.join(DEFAULT_ALLOWED)} and ${ENV_VAR} (comma-separated)")
