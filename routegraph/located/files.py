"""Experiment and budgets files as located YAML, and pydantic's errors turned into
located problems (``file:line:col: dotted.key: what is wrong (what is allowed)``),
gathered into one :class:`~routegraph.errors.ExperimentError`.

The wording is the spec loader's (:mod:`routegraph.located.problems`), so a typo reads
the same in a spec, an experiment file and a budgets file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ExperimentError, Problem, SpecError
from .problems import Problems, add_validation_errors
from .tree import parse_located, read_text


def read_located(file: Path):
    """The located YAML tree of ``file``; unreadable or malformed files raise :class:`ExperimentError`."""
    try:
        return parse_located(read_text(str(file), "the file"), file=str(file))
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


def check_kind(data: Any, root, file: Path, kind: str, what: str) -> None:
    """Refuse, in one line, a file whose ``kind`` is not ``kind`` (validating it would list
    every key it lacks); ``what`` names the expected file, e.g. ``"a budgets file"``."""
    found = data.get("kind") if isinstance(data, dict) else None
    if isinstance(found, str) and found != kind:
        raise ExperimentError([Problem(f"this is not {what} (kind {found!r})", path="kind", file=str(file),
                                       allowed=f"{what} says 'kind: {kind}'", **position(root, ("kind",)))])


def validate(model_cls: type[BaseModel], data: Any, root, file: Path) -> Any:
    """Validate ``data`` with a pydantic model; turn its errors into located problems."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(located_problems(exc, model_cls, data, root, file)) from None


def located_problems(exc: ValidationError, model_cls, data, root, file: Path, prefix: tuple = ()) -> list[Problem]:
    """Pydantic's errors of validating ``data`` (the value at ``prefix`` in the located
    tree ``root``) as located problems, worded as the spec loader words them."""
    problems = Problems(str(file))
    located = root
    for part in prefix:
        located = located.v[part]
    add_validation_errors(problems, exc, data, located, model_cls)
    return problems.problems()
