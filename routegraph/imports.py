"""Import permission: which modules a spec's ``module`` nodes may import (no torch here).

A spec never imports code on its own. A ``target`` (``package.module:Attribute``)
is imported only when its module lies under an allowed prefix: ``torch.nn`` by
default, plus those the user grants with ``--allow-import PREFIX`` (repeatable),
``ROUTEGRAPH_ALLOW_IMPORT`` (comma-separated) or ``allow_import=[...]`` on
:func:`routegraph.load_spec`. Prefixes match whole dotted names: ``torch.nn``
allows ``torch.nn.modules.linear`` but not ``torch.nnx``.

>>> prefixes = allowed_prefixes(["mylib"], env={})
>>> prefixes
('torch.nn', 'mylib')
>>> refusal("mylib.blocks:Res", prefixes) is None, refusal("os:system", prefixes)
(True, "import of 'os' is not allowed")
"""
from __future__ import annotations

import contextvars
import importlib
import os
import re
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

from .errors import ConfigError

#: Allowed without asking.
DEFAULT_ALLOWED = ("torch.nn",)
ENV_VAR = "ROUTEGRAPH_ALLOW_IMPORT"
FLAG = "--allow-import"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = rf"{_IDENT}(\.{_IDENT})*"
#: ``package.module:Attribute``; the attribute may be dotted (``mod:Outer.Inner``).
TARGET_PATTERN = rf"^{_DOTTED}:{_DOTTED}$"
_TARGET = re.compile(TARGET_PATTERN)
_PREFIX = re.compile(rf"^{_DOTTED}$")

_GRANTED: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar("routegraph_imports", default=None)


class ImportRefused(ConfigError):
    """A target that may not, or cannot, be imported (``message``, ``allowed``); specs report it
    located at the node, and a malformed prefix given on the command line as it is."""

    def __init__(self, message: str, allowed: str = ""):
        super().__init__(f"{message} ({allowed})" if allowed else message)
        self.message, self.allowed = message, allowed


def allowed_prefixes(extra: Iterable[str] | None = None, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The default prefix, then ``$ROUTEGRAPH_ALLOW_IMPORT``'s, then ``extra``; a malformed
    prefix is an :class:`ImportRefused` (a typo must not silently allow nothing, or everything).

    >>> allowed_prefixes(["a.b", "torch.nn"], env={ENV_VAR: "c, d.e"})
    ('torch.nn', 'c', 'd.e', 'a.b')
    """
    env = os.environ if env is None else env
    given = [p.strip() for p in env.get(ENV_VAR, "").split(",") if p.strip()] + [p.strip() for p in extra or ()]
    for prefix in given:
        if not _PREFIX.match(prefix):
            raise ImportRefused(f"{prefix!r} is not a module prefix", "a dotted module name, e.g. mylib or mylib.blocks")
    return tuple(dict.fromkeys(DEFAULT_ALLOWED + tuple(given)))


def split_target(target: str) -> tuple[str, str]:
    """``"pkg.mod:Attr.Sub"`` -> ``("pkg.mod", "Attr.Sub")``; :class:`ImportRefused` if malformed.

    >>> split_target("torch.nn:Linear")
    ('torch.nn', 'Linear')
    """
    if not isinstance(target, str) or not _TARGET.match(target):
        raise ImportRefused(f"{target!r} is not a target", "package.module:Attribute, e.g. torch.nn:Linear")
    module, _, attr = target.partition(":")
    return module, attr


def is_allowed(module: str, prefixes: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``prefixes`` or inside one (dotted boundaries).

    >>> is_allowed("torch.nn.modules.linear", ["torch.nn"]), is_allowed("torch.nnx", ["torch.nn"])
    (True, False)
    """
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def allowed_text(prefixes: Iterable[str]) -> str:
    """The 'allowed' part of a refusal: the prefixes, and how to grant more.

    >>> allowed_text(["torch.nn"])
    'allowed: torch.nn; allow more with --allow-import PREFIX or ROUTEGRAPH_ALLOW_IMPORT=PREFIX,...'
    """
    return f"allowed: {', '.join(prefixes)}; allow more with {FLAG} PREFIX or {ENV_VAR}=PREFIX,..."


def refusal(target: str, prefixes: Iterable[str]) -> str | None:
    """None if ``target`` may be imported under ``prefixes``, else why not (nothing is imported).

    >>> refusal("torch.nnx:Linear", ["torch.nn"])
    "import of 'torch.nnx' is not allowed"
    """
    module, _ = split_target(target)
    return None if is_allowed(module, prefixes) else f"import of {module!r} is not allowed"


def check(target: str, prefixes: Iterable[str] | None = None) -> None:
    """:class:`ImportRefused` unless ``target`` is allowed (``prefixes``: the granted ones,
    see :func:`granted`, else :func:`allowed_prefixes`).

    >>> check("antigravity:fly", ["torch.nn"])
    Traceback (most recent call last):
    ...
    routegraph.imports.ImportRefused: import of 'antigravity' is not allowed (allowed: torch.nn; ...)
    """
    prefixes = tuple(prefixes) if prefixes is not None else current()
    why = refusal(target, prefixes)
    if why:
        raise ImportRefused(why, allowed_text(prefixes))


def import_attribute(target: str) -> Any:
    """``"pkg.mod:Attr.Sub"``'s object, imported with no permission check: for declarations the user
    registered in code or installed as a plugin (a spec's targets go through :func:`resolve`).
    Raises ImportError or AttributeError.

    >>> import_attribute("routegraph.errors:ConfigError").__name__
    'ConfigError'
    """
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def resolve(target: str, prefixes: Iterable[str] | None = None) -> Any:
    """Check ``target``, then import its module and return the (dotted) attribute.

    >>> resolve("torch.nn:Linear").__name__                       # doctest: +SKIP
    'Linear'
    """
    check(target, prefixes)
    module_name, attr = split_target(target)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's module is reported, one line
        raise ImportRefused(f"cannot import {module_name!r}: {type(exc).__name__}: {first_line(exc)}",
                            "a module on sys.path") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportRefused(f"module {module_name!r} has no attribute {attr!r}", f"a class or factory in {module_name}")
        obj = getattr(obj, part)
    return obj


def current() -> tuple[str, ...]:
    """The prefixes granted by the innermost :func:`granted`, else :func:`allowed_prefixes`."""
    value = _GRANTED.get()
    return value if value is not None else allowed_prefixes()


@contextmanager
def granted(prefixes: Iterable[str]) -> Iterator[None]:
    """Within the block, :func:`check` and :func:`resolve` use ``prefixes`` (what a spec or
    run was loaded with); the compiler and ``build_model`` set it.

    >>> with granted(["torch.nn", "mylib"]):
    ...     current()
    ('torch.nn', 'mylib')
    """
    token = _GRANTED.set(tuple(prefixes))
    try:
        yield
    finally:
        _GRANTED.reset(token)


@contextmanager
def granted_in_env(extra: Iterable[str] | None) -> Iterator[None]:
    """Within the block, ``$ROUTEGRAPH_ALLOW_IMPORT`` also holds ``extra`` (the CLI's
    ``--allow-import``): every spec or run loaded, and every training a sweep starts, sees it."""
    extra = [p for p in extra or () if p]
    if not extra:
        yield
        return
    allowed_prefixes(extra)  # refuse a malformed prefix before anything runs
    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = ",".join(([before] if before else []) + extra)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none).

    >>> first_line(ValueError("bad\\nmore")), first_line(KeyError())
    ('bad', 'KeyError')
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
