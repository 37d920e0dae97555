"""One exception hierarchy for routegraph.

Every error a user can cause derives from :class:`RouteGraphError`. The CLI
catches that base class, prints the message, and exits non-zero without a
traceback (unless ``--debug``).

- :class:`SpecError` (also a ``ValueError``): a spec is wrong. It carries one
  :class:`Problem` per mistake, each printed as
  ``file:line:col: dotted.path: what is wrong (what is allowed)``.
- :class:`UnknownNameError` (a ``SpecError`` and a ``KeyError``): a registry or
  reference lookup failed; the message lists known names and a suggestion.
- :class:`DataError`: a dataset file is missing, corrupt or of the wrong format.
- :class:`CheckpointError`: a run directory or checkpoint cannot be used.
- :class:`TrainingError`: training stopped (a non-finite loss).
- :class:`ConfigError` (a ``ValueError``): a bad option or training setting.
- :class:`KindError` (a ``ConfigError``): a layer-kind declaration, or a plugin
  package's ``routegraph.kinds`` entry point, is invalid.
- :class:`ExperimentError` (a ``ConfigError``): an experiment or budgets file is
  wrong; located problems like :class:`SpecError`'s.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence


@dataclass(frozen=True)
class Problem:
    """One located mistake in a spec."""

    message: str
    path: str = ""
    file: str = "<spec>"
    line: int = 0
    col: int = 0
    allowed: str = ""

    def __str__(self) -> str:
        """``file:line:col: path: message (allowed)``; without a position only the parts that
        are known (no made-up ``<spec>:0:0: <root>:``).

        >>> str(Problem("unknown classifier 'l9.exit'", allowed="known: l1.exit"))
        "unknown classifier 'l9.exit' (known: l1.exit)"
        >>> str(Problem("must be > 0", path="nodes.0.channels", file="a.yaml", line=3, col=7))
        'a.yaml:3:7: nodes.0.channels: must be > 0'
        """
        parts = []
        if self.line:
            parts.append(f"{self.file}:{self.line}:{self.col}")
        elif self.file != "<spec>":
            parts.append(self.file)
        if self.path or self.line:
            parts.append(self.path or "<root>")
        text = ": ".join(parts + [self.message])
        return f"{text} ({self.allowed})" if self.allowed else text


class RouteGraphError(Exception):
    """Base class of every error routegraph raises on purpose."""


class SpecError(RouteGraphError, ValueError):
    """A spec is invalid. ``problems`` holds one located entry per mistake."""

    def __init__(self, problems: Problem | Sequence[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownNameError(SpecError, KeyError):
    """A name is not known; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return "\n".join(str(p) for p in self.problems)


class DataError(RouteGraphError, ValueError):
    """A dataset is missing, corrupt, or not in the expected format."""


class CheckpointError(RouteGraphError):
    """A run directory or checkpoint is missing or incompatible."""


class NotARunError(CheckpointError):
    """A path is neither a run directory nor a directory holding runs."""


class TrainingError(RouteGraphError):
    """Training cannot go on (the loss became NaN or infinite)."""


class ConfigError(RouteGraphError, ValueError):
    """A command-line option or training setting is invalid."""


class KindError(ConfigError):
    """A layer kind cannot be registered, resolved or loaded from a plugin's entry point."""


class ExperimentError(ConfigError):
    """An experiment or budgets file is invalid; ``problems`` holds one located entry per mistake."""

    def __init__(self, problems: Sequence[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``"did you mean 'x'?"`` for the closest known name, or ``""``.

    >>> did_you_mean("conv2", ["conv2d", "linear"])
    "did you mean 'conv2d'?"
    """
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else ""


#: How many names a "known: ..." list shows; a spec of 90,000 nodes would print them all.
MAX_KNOWN_SHOWN = 20


def known_names(known: Iterable[str], limit: int = MAX_KNOWN_SHOWN) -> str:
    """``"a, b, c"``: the known names, in their order, cut after ``limit`` with ``"and N more"``.

    >>> known_names([f"n{i}" for i in range(25)], limit=3)
    'n0, n1, n2 and 22 more'
    """
    names = list(known)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def unknown_name(what: str, name: str, known: Iterable[str], **where) -> UnknownNameError:
    """Build the standard 'unknown X' error with a suggestion and the known names."""
    known = sorted(known)
    hint = did_you_mean(name, known)
    message = f"unknown {what} {name!r}" + (f"; {hint}" if hint else "")
    allowed = "known: " + known_names(known) if known else "none defined"
    return UnknownNameError(Problem(message, allowed=allowed, **where))


_MAX_SHOWN = 60  # characters of a bad value quoted in a message


def got(value: Any) -> str:
    """A value as the user wrote it: YAML spellings for booleans and null, repr otherwise."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
