"""One exception hierarchy for routegraph.

Every error a user can cause derives from :class:`RouteGraphError`. The CLI
catches that base class, prints the message, and exits non-zero without a
traceback (unless ``--debug``). The tree (indentation is inheritance; a second
base is named after ``+``)::

    RouteGraphError
    ├── LocatedError + ValueError        a file has mistakes; ``problems``: one Problem each,
    │   │                                printed ``file:line:col: dotted.path: what (allowed)``
    │   ├── SpecError                    a network spec is wrong
    │   │   └── ExprError                (routegraph.spec.expressions) an expression is wrong
    │   └── ExperimentError + ConfigError   an experiment or budgets file is wrong
    ├── UnknownNameError + KeyError      a registry lookup missed (layer kind, strategy, task,
    │                                    error function, classifier); one line, no location,
    │                                    with a did-you-mean and the known names
    ├── ConfigError + ValueError         a bad option or training setting
    │   ├── KindError                    a layer-kind declaration or plugin entry point is invalid
    │   ├── ExperimentError              (above)
    │   └── NoRunsError                  the paths given name no runs (or none a picture can use)
    ├── DataError + ValueError           a dataset is missing, corrupt or of the wrong format
    ├── CheckpointError                  a run directory or checkpoint cannot be used
    │   └── NotARunError                 a path is not a run directory, nor holds any
    ├── TrainingError                    training stopped (a non-finite loss)
    ├── ShapeProblem                     raised by a layer kind's rule: the inputs do not fit
    │                                    (the compiler turns it into a located SpecError)
    ├── LockHeld                         a live process holds a directory lock
    ├── ExportError                      a network cannot be exported (names the node)
    ├── DeployError                      an exported folder cannot be loaded or run
    ├── RenderError                      graphviz or matplotlib could not draw a picture
    ├── BrowserNotFound                  no headless chromium on the PATH
    └── BrowserError                     the headless browser failed or timed out

Nothing else in the package defines an exception on a built-in base
(tests/test_errors.py checks it), so ``except RouteGraphError`` catches every
error routegraph raises on purpose.

>>> issubclass(UnknownNameError, SpecError), issubclass(UnknownNameError, KeyError)
(False, True)
>>> print(unknown_name("strategy", "acter", ["actor", "static"]))
unknown strategy 'acter'; did you mean 'actor'? (known: actor, static)
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


class LocatedError(RouteGraphError, ValueError):
    """A file (spec, experiment, budgets) has mistakes; ``problems`` holds one located entry each.

    >>> err = SpecError(Problem("must be > 0", path="nodes.0.channels", file="a.yaml", line=3, col=7))
    >>> isinstance(err, LocatedError), str(err)
    (True, 'a.yaml:3:7: nodes.0.channels: must be > 0')
    """

    def __init__(self, problems: Problem | Sequence[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SpecError(LocatedError):
    """A spec is invalid. ``problems`` holds one located entry per mistake."""


class UnknownNameError(RouteGraphError, KeyError):
    """A name is not known: ``message`` says which, ``allowed`` lists the known names.
    A plain lookup error (no file, no location); code that looks names up for a spec
    locates it with :func:`unknown_problem`."""

    def __init__(self, message: str, allowed: str = ""):
        self.message, self.allowed = message, allowed
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return f"{self.message} ({self.allowed})" if self.allowed else self.message


class DataError(RouteGraphError, ValueError):
    """A dataset is missing, corrupt, or not in the expected format."""


class CheckpointError(RouteGraphError):
    """A run directory or checkpoint is missing or incompatible."""


class TrainingError(RouteGraphError):
    """Training cannot go on (the loss became NaN or infinite)."""


class ConfigError(RouteGraphError, ValueError):
    """A command-line option or training setting is invalid."""


class KindError(ConfigError):
    """A layer kind cannot be registered, resolved or loaded from a plugin's entry point."""


class ExperimentError(LocatedError, ConfigError):
    """An experiment or budgets file is invalid; ``problems`` holds one located entry per mistake."""


class NoRunsError(ConfigError):
    """The paths given name no run directories (or none with what a picture needs)."""


class NotARunError(CheckpointError):
    """A path is neither a run directory nor a directory holding runs."""


class ShapeProblem(RouteGraphError):
    """Raised by a layer kind's rule: the inputs do not fit this layer. The compiler
    turns it into a located :class:`SpecError` at the node (``at``: the node's field
    the problem is in; default: its input, as a shape mismatch)."""

    def __init__(self, message: str, allowed: str = "", at: str = ""):
        super().__init__(message)
        self.message, self.allowed, self.at = message, allowed, at


class LockHeld(RouteGraphError):
    """A live process holds a :class:`~routegraph.io.DirectoryLock`; ``holder`` says who
    (callers turn it into their own message)."""

    def __init__(self, path, holder: dict):
        self.path, self.holder = path, holder
        super().__init__(f"{path} is held by pid {holder.get('pid')} on {holder.get('host')}")


class ExportError(RouteGraphError):
    """A network cannot be exported (a node whose operators ONNX cannot express; the message names it)."""


class DeployError(RouteGraphError):
    """An exported folder (``routegraph export``) cannot be loaded or run: a missing or altered file,
    another format version, or inputs that do not fit."""


class RenderError(RouteGraphError):
    """Graphviz or matplotlib could not draw a picture."""


class BrowserNotFound(RouteGraphError):
    """No headless chromium on the PATH."""


class BrowserError(RouteGraphError):
    """The headless browser failed or timed out."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``"did you mean 'x'?"`` for the closest known name, or ``""``.

    >>> did_you_mean("conv2", ["conv2d", "linear"])
    "did you mean 'conv2d'?"
    >>> did_you_mean(None, ["conv2d"])  # not a name: nothing is close, and no TypeError
    ''
    """
    if not isinstance(name, str):
        return ""
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


def _unknown(what: str, name: str, known: Iterable[str]) -> tuple[str, str]:
    known = sorted(known)
    hint = did_you_mean(name, known)
    message = f"unknown {what} {name!r}" + (f"; {hint}" if hint else "")
    return message, ("known: " + known_names(known) if known else "none defined")


def unknown_name(what: str, name: str, known: Iterable[str]) -> UnknownNameError:
    """The standard 'unknown X' lookup error, with a suggestion and the known names.

    >>> str(unknown_name("task", "cifar", ["cifar10", "mnist"]))
    "unknown task 'cifar'; did you mean 'cifar10'? (known: cifar10, mnist)"
    """
    return UnknownNameError(*_unknown(what, name, known))


def unknown_problem(what: str, name: str, known: Iterable[str], **where) -> Problem:
    """The same as :func:`unknown_name`, as a located :class:`Problem` of a spec (``where``:
    ``file``, ``line``, ``col``, ``path``).

    >>> str(unknown_problem("node", "x9", ["l1"], file="a.yaml", line=4, col=9, path="nodes.2.input"))
    "a.yaml:4:9: nodes.2.input: unknown node 'x9' (known: l1)"
    """
    message, allowed = _unknown(what, name, known)
    return Problem(message, allowed=allowed, **where)


_MAX_SHOWN = 60  # characters of a bad value quoted in a message


def got(value: Any) -> str:
    """A value as the user wrote it: YAML spellings for booleans and null, repr otherwise."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
