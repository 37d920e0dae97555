"""Experiment and budgets files as located YAML, and pydantic's errors turned into
located problems (``file:line:col: dotted.key: what is wrong (what is allowed)``),
gathered into one :class:`~routegraph.errors.ExperimentError`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ExperimentError, Problem, SpecError, did_you_mean
from ..spec.yaml_loc import parse_located


def read_located(file: Path):
    """The located YAML tree of ``file``; unreadable or malformed files raise :class:`ExperimentError`."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ExperimentError([Problem(f"cannot read the file: {reason}", file=str(file))]) from None
    try:
        return parse_located(text, file=str(file))
    except SpecError as exc:
        problems = [Problem(p.message.replace("the spec file", "the file").replace("the spec", "the file"),
                            path=p.path, file=p.file, line=p.line, col=p.col, allowed=p.allowed)
                    for p in exc.problems]
        raise ExperimentError(problems) from None


def position(root, where: tuple, key: bool = False) -> dict:
    """Line and column of the value (or, with ``key``, of the key) at ``where`` in the located tree."""
    y, key_loc = root, None
    for part in where:
        if y is None:
            break
        if y.is_map and isinstance(part, str) and part in y.v:
            key_loc = y.key_loc(part)
            y = y.v[part]
        elif y.is_seq and isinstance(part, int) and 0 <= part < len(y.v):
            key_loc, y = None, y.v[part]
        else:
            break
    loc = key_loc if (key and key_loc is not None) else y.loc
    return {"line": loc.line, "col": loc.col}


def validate(model_cls: type[BaseModel], data: Any, root, file: Path) -> Any:
    """Validate ``data`` with a pydantic model; turn its errors into located problems."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(located_problems(exc, model_cls, data, root, file)) from None


def located_problems(exc: ValidationError, model_cls, data, root, file: Path, prefix: tuple = ()) -> list[Problem]:
    problems = []
    for err in exc.errors():
        where = prefix + tuple(p for p in err["loc"] if _is_data_part(p))
        where = _data_path(data, where[len(prefix):], prefix)
        kind = err["type"]
        if kind == "extra_forbidden":
            name = where[-1] if where else "?"
            allowed = _allowed_keys(model_cls, where[len(prefix):-1], data)
            hint = did_you_mean(str(name), allowed)
            message = f"unknown key {name!r}" + (f"; {hint}" if hint else "")
            problems.append(Problem(message, path=".".join(map(str, where)), file=str(file),
                                    allowed="allowed: " + ", ".join(allowed) if allowed else "",
                                    **position(root, where, key=True)))
        elif kind == "missing":
            name = where[-1] if where else "?"
            parent = where[:-1]
            problems.append(Problem(f"missing required key {name!r}", path=".".join(map(str, parent)),
                                    file=str(file), **position(root, parent)))
        else:
            message = err["msg"]
            if "input" in err and not isinstance(err["input"], (dict, list)):
                message += f", got {err['input']!r}"
            problems.append(Problem(message, path=".".join(map(str, where)), file=str(file), **position(root, where)))
    # unions report one error per member; keep one per location and message
    unique, seen = [], set()
    for p in problems:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            unique.append(p)
    return unique


def _is_data_part(part) -> bool:
    # pydantic adds union member tags such as 'list[float]' or 'function-after[...]' to locations
    return isinstance(part, int) or not any(c in str(part) for c in "[]()")


def _data_path(data, where: tuple, prefix: tuple) -> tuple:
    """Drop location parts that are union tags rather than keys of the data."""
    out, node = list(prefix), data
    for part in where:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part not in ("str", "float", "int", "bool"):
            out.append(part)  # a missing or unknown key
            node = None
        else:
            continue
    return tuple(out)


def _allowed_keys(model_cls, where: tuple, data) -> list[str]:
    """The keys a model allows at ``where`` (walking through nested models, dicts and lists)."""
    annotation = model_cls
    for part in where:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    cls = _model_in(annotation)
    return [f.alias or n for n, f in cls.model_fields.items()] if cls is not None else []


def _step(annotation, part):
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = next((f for n, f in annotation.model_fields.items() if (f.alias or n) == part), None)
        return field.annotation if field is not None else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    for arg in args:  # unions: the first member that has this part
        found = _step(arg, part)
        if found is not None:
            return found
    return None


def _model_in(annotation) -> type[BaseModel] | None:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (dict, list):
        return None
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
