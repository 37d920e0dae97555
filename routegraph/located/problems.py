"""Collecting located problems, and turning pydantic errors into them.

Every mistake becomes one :class:`~routegraph.errors.Problem`
(``file:line:col: dotted.path: what is wrong (what is allowed)``). The
:class:`Problems` collector removes repeats (a mistake inside a template used
eight times is reported once, naming the instances) and sorts by position.
"""
from __future__ import annotations

import types
from typing import Annotated, Any, Iterable, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import Problem, SpecError, did_you_mean, got, known_names
from ..kinds.fields import MAX_INT, NAME_PATTERN
from .tree import Loc, LocatedValue, plain



class Problems:
    """An ordered, de-duplicated collection of located problems."""

    def __init__(self, file: str):
        self.file = file
        self._items: dict[tuple, list] = {}

    def add(self, message: str, loc: Loc, path: str | None = None, allowed: str = "", instance: str = "") -> None:
        path = loc.path if path is None else path
        key = (loc.line, loc.col, path, message, allowed)
        entry = self._items.setdefault(key, [])
        # Name the template instance only when the text is inside a template body.
        if instance and path.startswith("templates.") and instance not in entry:
            entry.append(instance)

    def extend(self, error: SpecError, loc: Loc, instance: str = "") -> None:
        """Add every problem of an un-located error (e.g. an ExprError) at ``loc``."""
        for p in error.problems:
            self.add(p.message, loc, allowed=p.allowed, instance=instance)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def paths(self) -> list[str]:
        return [key[2] for key in self._items]

    def problems(self) -> list[Problem]:
        out = []
        for (line, col, path, message, allowed), instances in self._items.items():
            if instances:
                shown = ", ".join(instances[:3]) + (f" and {len(instances) - 3} more" if len(instances) > 3 else "")
                message = f"{message} [in instance{'s' if len(instances) > 1 else ''} {shown}]"
            out.append(Problem(message, path=path, file=self.file, line=line, col=col, allowed=allowed))
        return sorted(out, key=lambda p: (p.line, p.col))

    def raise_if_any(self) -> None:
        if self._items:
            raise SpecError(self.problems())


# ---------------------------------------------------------------- schema walking
def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation, through Annotated/Union/Optional."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [alt for arg in get_args(annotation) for alt in _unwrap(arg)]
    return [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [a for a in _unwrap(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]


def _pick(models: list[type[BaseModel]], data: Any) -> type[BaseModel] | None:
    if len(models) == 1:
        return models[0]
    kind = data.get("kind") if isinstance(data, dict) else None
    for model in models:
        field = model.model_fields.get("kind")
        if field is not None and kind in get_args(field.annotation):
            return model
    return None


def _field(model: type[BaseModel], key: str):
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field
    return None


def annotation_at(root: Any, data: Any, path: list) -> tuple[Any, Any]:
    """The annotation and data at ``path`` (keys and indices) under ``root``."""
    annotation = root
    for element in path:
        model = _pick(_models(annotation), data)
        if model is not None and isinstance(element, str):
            field = _field(model, element)
            if field is None:
                return None, None
            annotation = field.annotation
        else:
            containers = [a for a in _unwrap(annotation) if get_origin(a) in (list, dict)]
            if not containers:
                return None, None
            annotation = get_args(containers[0])[-1]
        if isinstance(data, dict):
            data = data.get(element)
        elif isinstance(data, list) and isinstance(element, int) and 0 <= element < len(data):
            data = data[element]
        else:
            data = None
    return annotation, data


def allowed_keys(root: Any, data: Any, path: list) -> list[str]:
    annotation, sub = annotation_at(root, data, path)
    model = _pick(_models(annotation), sub) if annotation is not None else None
    if model is None:
        return []
    keys = [field.alias or name for name, field in model.model_fields.items()]
    first = [k for k in ("name", "kind", "input") if k in keys]
    return first + [k for k in keys if k not in first]


def union_kinds(root: Any, data: Any, path: list) -> list[str]:
    annotation, _ = annotation_at(root, data, path)
    kinds = []
    for model in _models(annotation) if annotation is not None else []:
        field = model.model_fields.get("kind")
        if field is not None:
            kinds.extend(get_args(field.annotation))
    return kinds


def _is_union(root: Any, data: Any, path: list) -> bool:
    annotation, _ = annotation_at(root, data, path)
    return annotation is not None and len(_models(annotation)) > 1


# ---------------------------------------------------------------- pydantic errors
def _data_path(loc: tuple, data: Any, error_type: str, root: Any) -> list:
    """Strip union tags out of a pydantic ``loc``, keeping real keys and indices."""
    out: list = []
    cur = data
    tag_used = False
    for i, element in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(cur, dict):
            # A discriminated-union tag, only where the schema has a union: a budgets
            # file's 'kind: budgets' must not swallow its 'budgets' key.
            if not tag_used and element == cur.get("kind") and not last and _is_union(root, data, out):
                tag_used = True
                continue
            if element in cur or (last and error_type in ("missing", "extra_forbidden")):
                out.append(element)
                cur = cur.get(element)
                tag_used = False
            continue
        if isinstance(cur, list) and isinstance(element, int) and 0 <= element < len(cur):
            out.append(element)
            cur = cur[element]
            tag_used = False
    return out


def _expectation(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    simple = {
        "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "a whole number",
        "float_parsing": "a number", "float_type": "a number", "finite_number": "a finite number",
        "bool_parsing": "true or false", "bool_type": "true or false", "string_type": "a string",
        "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
        "model_attributes_type": "a mapping", "none_required": "null",
        "int_parsing_size": f"an integer <= {MAX_INT}",
    }
    if kind in simple:
        return simple[kind]
    for op, sym in (("greater_than", ">"), ("greater_than_equal", ">="), ("less_than", "<"), ("less_than_equal", "<=")):
        if kind == op:
            key = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}[op]
            return f"{sym} {ctx.get(key)}"
    if kind == "literal_error":
        return ctx.get("expected", "one of the allowed values")
    if kind == "string_pattern_mismatch":
        return "a valid name" if ctx.get("pattern") == NAME_PATTERN else f"a string matching {ctx.get('pattern')}"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"a list of at least {n} item{'s' if n != 1 else ''}"
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"a list of at most {n} item{'s' if n != 1 else ''}"
    return err.get("msg", "valid").replace("Input should be ", "")


_NAME_RULE = "letters, digits and '_', not starting with a digit; '.' separates parts"


def _locate(y: LocatedValue, path: list) -> tuple[LocatedValue, list]:
    """The deepest located value along ``path`` and the path elements left over."""
    for i, element in enumerate(path):
        if isinstance(y.v, dict) and element in y.v:
            y = y.v[element]
        elif isinstance(y.v, list) and isinstance(element, int) and 0 <= element < len(y.v):
            y = y.v[element]
        else:
            return y, path[i:]
    return y, []


def _join(base: str, rest: Iterable) -> str:
    parts = [base] if base else []
    parts.extend(str(r) for r in rest)
    return ".".join(parts)


def add_validation_errors(
    problems: Problems,
    exc: ValidationError,
    data: Any,
    y: LocatedValue,
    root: Any,
    *,
    instance: str = "",
    failed: Iterable[str] = (),
    what: str = "kind",
) -> None:
    """Turn every pydantic error of validating ``data`` (located by ``y``) into problems.

    ``root`` is the validated annotation (a model or a union). Errors under a
    relative dotted path in ``failed`` (values whose expression already failed)
    are skipped. Errors of several union alternatives at one path merge into one.
    """
    failed = tuple(failed)
    groups: dict[tuple, list[dict]] = {}
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], data, err["type"], root)
        rel = ".".join(map(str, path))
        if any(rel == f or rel.startswith(f + ".") for f in failed):
            continue
        groups.setdefault(tuple(path), []).append(err)
    # A type error at a path whose value is a container with errors deeper down is
    # one alternative of a union (e.g. 'input': a name or a list) - drop it.
    paths = list(groups)
    for path in paths:
        deeper = any(len(other) > len(path) and other[: len(path)] == path for other in paths)
        if deeper:
            groups[path] = [e for e in groups[path] if not e["type"].endswith("_type") and e["type"] != "literal_error"]
            if not groups[path]:
                del groups[path]
    for path, errors in groups.items():
        _report(problems, list(path), errors, data, y, root, instance, what)


def _report(problems: Problems, path: list, errors: list[dict], data: Any, y: LocatedValue, root: Any,
            instance: str, what: str) -> None:
    first = errors[0]
    kind = first["type"]
    target, rest = _locate(y, path)
    if kind == "missing":
        parent, _ = _locate(y, path[:-1])
        key = str(path[-1])
        problems.add(f"missing required key {key!r}", parent.loc, _join(parent.loc.path, [key]), instance=instance)
        return
    if kind == "extra_forbidden":
        parent, _ = _locate(y, path[:-1])
        key = str(path[-1])
        keys = allowed_keys(root, data, path[:-1])
        hint = did_you_mean(key, keys)
        problems.add(f"unknown key {key!r}" + (f"; {hint}" if hint else ""), parent.key_loc(key),
                     _join(parent.loc.path, [key]), allowed="allowed: " + ", ".join(keys) if keys else "",
                     instance=instance)
        return
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        known = union_kinds(root, data, path)
        allowed = "known: " + known_names(sorted(known)) if known else ""
        if kind == "union_tag_not_found":
            problems.add(f"missing required key {what!r}", target.loc, _join(target.loc.path, [what]),
                         allowed=allowed, instance=instance)
            return
        tag = (first.get("ctx") or {}).get("tag")
        value = target.v.get(what) if isinstance(target.v, dict) else None
        shown = plain(value) if isinstance(value, LocatedValue) else tag
        where = value if isinstance(value, LocatedValue) else target
        if isinstance(shown, str):
            hint = did_you_mean(shown, known)
            message = f"unknown {what} {shown!r}" + (f"; {hint}" if hint else "")
        else:
            message = f"{what} must be a string (got {got(shown)})"
        problems.add(message, where.loc, _join(target.loc.path, [what]) if where is target else where.loc.path,
                     allowed=allowed, instance=instance)
        return
    expected: list[str] = []
    for err in errors:
        phrase = _expectation(err)
        if phrase not in expected:
            expected.append(phrase)
    allowed = _NAME_RULE if first["type"] == "string_pattern_mismatch" and "a valid name" in expected else ""
    text = " or ".join(expected)
    message = f"must be {text} (got {got(first['input'])})"
    if first["type"] in ("too_short", "too_long") and len(errors) == 1:
        n = (first.get("ctx") or {}).get("actual_length")
        message = f"must be {text} (got {n})"
    problems.add(message, target.loc, _join(target.loc.path, rest), allowed=allowed, instance=instance)
