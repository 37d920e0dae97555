"""Shared CLI options: --set overrides, data options, TrainConfig fields as flags."""
from __future__ import annotations

import argparse

from ..checks import K_CPT, MAX_THREADS, POSITIVE_INT, Bound
from ..errors import ConfigError

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


def add_precision_flag(parser) -> None:
    """``--precision fp32|bf16|auto`` for inference (default: what the run trained in); see
    :func:`run_precision`."""
    from ..checks import PRECISIONS

    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="fp32 | bf16 (autocast) | auto (bf16 where measured faster here) "
                             "(default: the precision the run trained in)")


def run_precision(args, config: dict) -> str:
    """``--precision``, else the precision the run's training used (config.json), else fp32."""
    recorded = config.get("precision") or {}
    return args.precision or (recorded.get("used") if isinstance(recorded, dict) else None) or "fp32"


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
    """One flag per training setting (defaults: None, meaning 'the config's default'), derived from
    :func:`routegraph.train.config.settings`: its flag, help, bound (checked as it is parsed) or choices."""
    from ..train.config import settings

    group = parser.add_argument_group("training settings (defaults: the paper's; see docs/training.md)")
    for s in settings():
        help_ = " | ".join(s.choices) if s.name == "method" else s.help  # the registered strategies
        if s.default is not None:
            help_ += f" (default: {s.default})"
        if s.kind == "bool":
            group.add_argument(s.flag, dest=s.name, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif s.kind == "numbers":
            group.add_argument(s.flag, dest=s.name, type=K_CPT_TYPE, nargs="+", default=None, help=help_)
        elif s.kind == "number":
            group.add_argument(s.flag, dest=s.name, type=number(s.bound), default=None, help=help_)
        else:
            group.add_argument(s.flag, dest=s.name, type=str, default=None, help=help_)
    group.add_argument("--config", dest="config_file", help="YAML file of training settings (flags win)")


def train_config_from_args(args, **forced):
    """TrainConfig from a YAML config file, then flags, then ``forced``."""
    from ..train.config import TrainConfig

    values = {}
    if getattr(args, "config_file", None):
        values.update(_read_yaml_mapping(args.config_file))
    for name in TrainConfig.model_fields:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = tuple(value) if isinstance(value, list) else value
    values.update(forced)
    _reject_unknown(values, set(TrainConfig.model_fields))
    return TrainConfig.from_json(values)


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
