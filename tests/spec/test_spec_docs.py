"""docs/spec.md documents every kind and every field of the spec language, and nothing else."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from routegraph.kinds import kinds
from routegraph.spec.schema import (
    InputSpec, JunctionNode, NodeFields, RouterSpec, SpecFile, TemplateSpec, UseSpec, spec_types,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
MODELS = {m.__name__: m for m in (SpecFile, InputSpec, NodeFields, RouterSpec, TemplateSpec, UseSpec)}
# every registered kind (from the registry, as the loader sees them) and the compiler's own junction
KIND_MODELS = {kind.name: kind.config for kind in kinds()} | {"junction": JunctionNode}
NODE_ONLY = {kind.config for kind in kinds() if kind.node_only} | {JunctionNode}
NODE_KINDS = spec_types().node_kinds
HEADER = re.compile(r"^\|\s*field\s*\|\s*type\s*\|\s*default\s*\|\s*meaning\s*\|$")


def _sections() -> dict[str, list[tuple[str, str]]]:
    """First backticked word of each '### ' heading -> its table rows (field, default)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    in_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            current, in_table = None, False
            match = re.match(r"^### .*?`([^`]+)`", line)
            if match:
                current = match.group(1)
                assert current not in sections, f"section for {current!r} twice"
                sections[current] = []
            continue
        if current is None:
            continue
        if HEADER.match(line.strip()):
            in_table = True
            continue
        if in_table and line.startswith("|---"):
            continue
        if in_table and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            name = re.fullmatch(r"`([^`]+)`", cells[0])
            assert name, f"{current}: first cell must be a `field`: {line}"
            sections[current].append((name.group(1), cells[2]))
        elif in_table:
            in_table = False
    return sections


def _expected(key: str) -> dict:
    """field -> model FieldInfo documented under the section ``key``."""
    if key in KIND_MODELS:
        model = KIND_MODELS[key]
        fields = {f.alias or n: f for n, f in model.model_fields.items() if n != "kind"}
        if model not in NODE_ONLY:  # a layer's name/input are documented once, under NodeFields
            fields = {k: v for k, v in fields.items() if k not in NodeFields.model_fields}
        return fields
    return {f.alias or n: f for n, f in MODELS[key].model_fields.items()}


def _parse_default(cell: str):
    text = cell.strip().strip("`")
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text)


SECTIONS = _sections()


def test_every_kind_and_model_has_a_section():
    documented = set(SECTIONS)
    assert set(NODE_KINDS) <= documented, f"undocumented kinds: {set(NODE_KINDS) - documented}"
    assert set(MODELS) <= documented, f"undocumented models: {set(MODELS) - documented}"
    assert documented <= set(NODE_KINDS) | set(MODELS), f"documented but unknown: {documented - set(NODE_KINDS) - set(MODELS)}"


@pytest.mark.parametrize("key", sorted(SECTIONS))
def test_fields_match_the_schema(key):
    rows = dict(SECTIONS[key])
    expected = _expected(key)
    assert len(rows) == len(SECTIONS[key]), f"{key}: a field is listed twice"
    assert set(rows) == set(expected), (
        f"{key}: undocumented {sorted(set(expected) - set(rows))}, not in the schema {sorted(set(rows) - set(expected))}"
    )
    for field, cell in rows.items():
        info = expected[field]
        if info.is_required():
            assert cell == "required", f"{key}.{field}: documented default {cell!r}, but it is required"
        else:
            default = info.default_factory() if info.default_factory is not None else info.default
            assert _parse_default(cell) == default, f"{key}.{field}: documented default {cell!r} != {default!r}"
