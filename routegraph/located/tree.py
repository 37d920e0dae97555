"""YAML with source locations.

:func:`parse_located` reads YAML with PyYAML's *safe* loader (composing nodes,
never constructing arbitrary objects) and returns a tree of :class:`LocatedValue` values:
each one knows the 1-based line and column where it was written and its dotted
path in the file (``templates.layer.nodes.0.channels``). Mappings also remember
where each key was written, so an unknown key can be pointed at exactly.

Deviations from plain ``yaml.safe_load``, all on purpose:

- a duplicate key in a mapping is an error (pointing at the second one);
- mapping keys are always strings (``on: 1`` has the key ``"on"``, not ``True``);
- ``1e-6`` is a float (YAML 1.2), not the string ``"1e-6"``;
- only the standard tags are accepted; merge keys (``<<: *anchor``) work.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, Iterator

import yaml

from ..errors import Problem, SpecError

#: Upper bound on the number of values after alias expansion ("billion laughs").
MAX_VALUES = 200_000

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class SpecYamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-6`` / ``2E+3`` as floats."""


SpecYamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789"))

if getattr(yaml, "__with_libyaml__", False):

    class _FastLoader(yaml.CSafeLoader):
        """The same loader on libyaml's parser (about 10x faster); errors are re-read
        with :class:`SpecYamlLoader` so messages do not depend on libyaml."""

    _FastLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789"))
else:  # pragma: no cover - PyYAML without libyaml
    _FastLoader = SpecYamlLoader


@dataclass(frozen=True)
class Loc:
    """Where a value was written: 1-based line and column, and its dotted path there."""

    line: int
    col: int
    path: str

    def child(self, key: str | int) -> str:
        return f"{self.path}.{key}" if self.path else str(key)


class LocatedValue:
    """A located YAML value.

    ``v`` is a scalar, a ``dict[str, LocatedValue]`` or a ``list[LocatedValue]``; ``loc`` says where it
    was written; ``keys`` (mappings only) says where each key was written.
    Treat instances as immutable: expansion builds new ones.
    """

    __slots__ = ("v", "loc", "keys")

    def __init__(self, v: Any, loc: Loc, keys: dict[str, Loc] | None = None):
        self.v = v
        self.loc = loc
        self.keys = keys

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"LocatedValue({plain(self)!r} @ {self.loc.line}:{self.loc.col} {self.loc.path})"

    @property
    def is_map(self) -> bool:
        return isinstance(self.v, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.v, list)

    def get(self, key: str) -> "LocatedValue | None":
        return self.v.get(key) if isinstance(self.v, dict) else None

    def key_loc(self, key: str) -> Loc:
        """Where ``key`` was written in this mapping (the mapping itself if unknown)."""
        if self.keys and key in self.keys:
            return self.keys[key]
        return self.loc


def plain(y: LocatedValue) -> Any:
    """The plain Python value of a located tree (dicts, lists, scalars)."""
    if isinstance(y.v, dict):
        return {k: plain(v) for k, v in y.v.items()}
    if isinstance(y.v, list):
        return [plain(v) for v in y.v]
    return y.v


def located(value: Any, loc: Loc) -> LocatedValue:
    """Wrap a plain value (e.g. an expression result) so every part has ``loc``."""
    if isinstance(value, LocatedValue):
        return value
    if isinstance(value, dict):
        return LocatedValue({str(k): located(v, loc) for k, v in value.items()}, loc, {str(k): loc for k in value})
    if isinstance(value, (list, tuple)):
        return LocatedValue([located(v, loc) for v in value], loc)
    return LocatedValue(value, loc)


def walk(y: LocatedValue, path: str) -> Iterator[tuple[str, LocatedValue]]:
    """Every (dotted path, value) pair under ``y``, ``y`` itself first."""
    yield path, y
    if isinstance(y.v, dict):
        for key, value in y.v.items():
            yield from walk(value, f"{path}.{key}" if path else key)
    elif isinstance(y.v, list):
        for i, value in enumerate(y.v):
            yield from walk(value, f"{path}.{i}" if path else str(i))


def record_locations(y: LocatedValue, path: str, out: dict[str, tuple[int, int, str]]) -> None:
    """Record ``(line, col, source path)`` for ``y`` and everything under it."""
    for sub, value in walk(y, path):
        out[sub] = (value.loc.line, value.loc.col, value.loc.path)


# ---------------------------------------------------------------- parsing
def _mark_loc(mark, path: str) -> Loc:
    return Loc(mark.line + 1, mark.column + 1, path)


def yaml_problem(exc: Exception, file: str) -> Problem:
    """A located Problem for a PyYAML exception."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None and hasattr(exc, "position"):  # ReaderError: bad characters
        return Problem(f"invalid YAML: {exc.reason} (character {exc.character!r})", file=file,
                       line=1, col=exc.position + 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return Problem(message, file=file, line=line, col=col)


class _Builder:
    def __init__(self, loader: SpecYamlLoader, file: str):
        self.loader = loader
        self.file = file
        self.memo: dict[int, LocatedValue] = {}  # aliases share the anchor's LocatedValue
        self.memo_sizes: dict[int, int] = {}
        self.active: set[int] = set()
        self.count = 0

    def fail(self, message: str, loc: Loc, allowed: str = "") -> SpecError:
        return SpecError(Problem(message, path=loc.path, file=self.file, line=loc.line, col=loc.col, allowed=allowed))

    def build(self, node: yaml.Node, path: str) -> LocatedValue:
        key = id(node)
        if key in self.active:
            raise self.fail("a YAML alias refers to a value that contains it", _mark_loc(node.start_mark, path))
        if key in self.memo:  # an alias: count its values again (expansion size)
            self.count += self.memo_sizes[key]
            if self.count > MAX_VALUES:
                raise self.fail(f"the spec is too large after expanding YAML aliases (over {MAX_VALUES} values)",
                                _mark_loc(node.start_mark, path))
            return self.memo[key]
        self.active.add(key)
        before = self.count
        y = self._build(node, path)
        self.active.discard(key)
        self.memo[key] = y
        self.memo_sizes[key] = self.count - before
        return y

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError as exc:
            if node.tag == "tag:yaml.org,2002:int":  # Python reads at most 4,300 digits
                digits = sum(c.isdigit() for c in node.value)
                raise self.fail(f"integer too large ({digits:,} digits)",
                                loc, f"at most {sys.get_int_max_str_digits():,} digits") from None
            raise self.fail(f"invalid value {node.value[:40]!r}: {exc}", loc) from None

    def _build(self, node: yaml.Node, path: str) -> LocatedValue:
        self.count += 1
        loc = _mark_loc(node.start_mark, path)
        if isinstance(node, yaml.ScalarNode):
            return LocatedValue(self._scalar(node, loc), loc)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise self.fail(f"unsupported YAML tag {node.tag!r}", loc)
            return LocatedValue([self.build(item, loc.child(i)) for i, item in enumerate(node.value)], loc)
        if node.tag != _MAP:
            raise self.fail(f"unsupported YAML tag {node.tag!r}", loc)
        seen: dict[str, Loc] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail("mapping keys must be plain strings", _mark_loc(key_node.start_mark, path))
            name = key_node.value
            key_loc = _mark_loc(key_node.start_mark, loc.child(name))
            if name in seen:
                first = seen[name]
                raise self.fail(f"duplicate key {name!r} (first written at line {first.line})", key_loc)
            seen[name] = key_loc
        self.loader.flatten_mapping(node)  # resolves '<<' merge keys; explicit keys come last
        values: dict[str, LocatedValue] = {}
        keys: dict[str, Loc] = {}
        for key_node, value_node in node.value:
            name = key_node.value
            keys[name] = seen.get(name) or _mark_loc(key_node.start_mark, loc.child(name))
            values[name] = self.build(value_node, loc.child(name))
        return LocatedValue(values, loc, keys)


def read_text(file: str, what: str = "the spec file") -> str:
    """The text of a UTF-8 file; a SpecError naming the file if it cannot be read, located
    at the first byte that is not UTF-8 if it cannot be decoded."""
    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SpecError(Problem(f"cannot read {what}: {exc.strerror or exc}", file=file)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _undecodable(data, exc, file) from None


def _undecodable(data: bytes, exc: UnicodeDecodeError, file: str) -> SpecError:
    """The decoding error, at the line and column (in characters) of the first bad byte."""
    before = data[: exc.start]
    line = before.count(b"\n") + 1
    col = len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
    bad = data[exc.start: exc.end].hex(" ")
    return SpecError(Problem(f"not UTF-8 text: bytes {bad} ({exc.reason})", file=file, line=line, col=col,
                             allowed="save the file as UTF-8"))


def parse_located(text: str, file: str = "<spec>") -> LocatedValue:
    """Parse one YAML document into a located tree; raise a located SpecError."""
    if "\t" in text:  # libyaml accepts some tabs that PyYAML rejects: keep one behaviour
        return _parse(text, file, SpecYamlLoader)
    try:
        return _parse(text, file, _FastLoader)
    except SpecError:
        if _FastLoader is SpecYamlLoader:
            raise
        return _parse(text, file, SpecYamlLoader)  # the same error, in PyYAML's words


def _parse(text: str, file: str, loader_class) -> LocatedValue:
    loader = None
    try:
        loader = loader_class(text)
        node = loader.get_single_node()
        if node is None:
            raise SpecError(Problem("the spec file is empty", file=file, line=1, col=1))
        return _Builder(loader, file).build(node, "")
    except yaml.YAMLError as exc:
        raise SpecError(yaml_problem(exc, file)) from None
    except RecursionError:
        raise SpecError(Problem("the YAML is nested too deeply", file=file, line=1, col=1)) from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_scalar(text: str) -> Any:
    """Parse a YAML scalar (or flow value) as a spec's values are parsed; for ``--set``.
    Raises :class:`SpecError` (located in ``text``) if it is not valid."""
    return plain(parse_located(text, "--set"))
