"""The JSON Schema of spec files, for editor completion and checking.

Generated from the pydantic models (:mod:`.schema`): the top level
(``SpecFile``), every node model of the kinds registered when it is called
(:func:`~routegraph.spec.schema.spec_types`: layer kinds, ``junction``,
``classifier``, and a user's or plugin's kinds), template uses (``UseSpec``)
and the layers of ``blocks``. A ``${...}`` string is accepted wherever a
number, boolean, list, choice or name is expected, since the loader evaluates
expressions before validating. Put this line at the top of a spec file::

    # yaml-language-server: $schema=../docs/routegraph.schema.json

``routegraph schema -o docs/routegraph.schema.json`` regenerates the
committed copy (a test checks that it is up to date). No torch here.
"""
from __future__ import annotations

import json
from typing import Any, Union

from pydantic import Field, create_model

from .schema import SpecFile, TemplateSpec, UseSpec, spec_types

DRAFT = "http://json-schema.org/draft-07/schema#"
#: Accepted in place of any non-string value: a string containing ``${``.
EXPRESSION = {"type": "string", "pattern": r"\$\{", "description": "a ${...} expression, evaluated when loading"}
_META = ("title", "description", "default", "examples")


def _authoring_model():
    """SpecFile with its free-form parts (node lists, blocks) typed for editors."""
    types = spec_types()
    entry = Union[types.node_union, UseSpec]
    template = create_model(
        "TemplateSpec", __base__=TemplateSpec, __module__=__name__,
        nodes=(list[entry], Field(min_length=1, description=TemplateSpec.model_fields["nodes"].description)),
    )
    template.__doc__ = TemplateSpec.__doc__
    fields = SpecFile.model_fields
    model = create_model(
        "SpecFile", __base__=SpecFile, __module__=__name__,
        blocks=(dict[str, list[types.layer_union]], Field(default_factory=dict, description=fields["blocks"].description)),
        templates=(dict[str, template], Field(default_factory=dict, description=fields["templates"].description)),
        nodes=(list[entry], Field(min_length=1, description=fields["nodes"].description)),
    )
    model.__doc__ = SpecFile.__doc__
    return model


def _is_object(schema: dict) -> bool:
    if "$ref" in schema or schema.get("type") == "object" or "properties" in schema:
        return True
    return any(_is_object(b) for key in ("anyOf", "oneOf") for b in schema.get(key, ()))


def _plain_string(schema: dict) -> bool:
    return schema.get("type") == "string" and not any(k in schema for k in ("pattern", "enum", "const"))


def _widens(schema: dict) -> bool:
    """Whether a value of this schema may be written as an expression."""
    kind = schema.get("type")
    if kind in ("integer", "number", "boolean"):
        return True
    if kind == "array":
        return not _is_object(schema.get("items", {}))
    if kind == "string" or "enum" in schema or "const" in schema:
        return any(k in schema for k in ("pattern", "enum", "const"))
    return False


def widen(schema: Any) -> Any:
    """Accept a ``${...}`` string wherever a non-string (or constrained string) value goes."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: v if k == "kind" else widen(v) for k, v in out["properties"].items()}
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = widen(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = widen(out["items"])
    for key in ("anyOf", "oneOf"):
        if key in out:
            branches: list = []
            for branch in out[key]:
                branch = widen(branch)
                # flatten a branch that widening turned into {anyOf: [x, EXPRESSION]}
                if set(branch) - set(_META) == {"anyOf"} and EXPRESSION in branch["anyOf"]:
                    branches.extend(b for b in branch["anyOf"] if b not in branches and b != EXPRESSION)
                elif branch not in branches and branch != EXPRESSION:
                    branches.append(branch)
            if key == "anyOf" and any(_widens(b) for b in branches) and not any(map(_plain_string, branches)):
                branches.append(EXPRESSION)
            out[key] = branches
        if key in out:
            return out
    if _widens(out):
        meta = {k: out.pop(k) for k in _META if k in out}
        return {**meta, "anyOf": [out, EXPRESSION]}
    return out


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) of spec files, as a dict."""
    raw = _authoring_model().model_json_schema(by_alias=True)
    defs = {name: widen(body) for name, body in raw.pop("$defs", {}).items()}
    top = widen(raw)
    top.pop("title", None)
    return {
        "$schema": DRAFT,
        "title": "routegraph spec file",
        **top,
        "$defs": dict(sorted(defs.items())),
    }


def dumps_schema() -> str:
    """The schema as the text of ``docs/routegraph.schema.json``."""
    return json.dumps(spec_json_schema(), indent=2, sort_keys=False) + "\n"
