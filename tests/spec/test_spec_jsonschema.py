"""The JSON Schema of spec files: up to date, valid, accepts the specs and expressions, no torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from routegraph.cli.main import main
from routegraph.spec.jsonschema import EXPRESSION, dumps_schema, spec_json_schema
from routegraph.located.tree import SpecYamlLoader

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "routegraph.schema.json"
jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def validator():
    schema = spec_json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_committed_schema_is_up_to_date():
    assert COMMITTED.read_text(encoding="utf-8") == dumps_schema(), (
        "docs/routegraph.schema.json is stale: run `routegraph schema -o docs/routegraph.schema.json`"
    )


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_specs_validate_against_the_schema(validator, path):
    data = yaml.load(path.read_text(), Loader=SpecYamlLoader)
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(data)]
    assert not errors


def _spec(node: dict) -> dict:
    return {"name": "x", "input": {"shape": [3, 8, 8]}, "nodes": [node]}


@pytest.mark.parametrize("node", [
    {"name": "c", "kind": "conv2d", "input": "image", "channels": "${2 * width}"},
    {"name": "c${i}", "kind": "conv2d", "input": ["${src}"], "channels": 2, "padding": "${pad}", "bias": "${b}"},
    {"name": "p", "kind": "pyramid", "input": "image", "sizes": "${sizes}"},
    {"name": "p", "kind": "pyramid", "input": "image", "sizes": [8, "${half}"]},
    {"use": "layer", "as": "l${k}", "with": {"src": "image", "ch": 3}},
])
def test_schema_accepts_expressions(validator, node):
    assert not list(validator.iter_errors(_spec(node)))


@pytest.mark.parametrize("node", [
    {"name": "c", "kind": "conv3d", "input": "image", "channels": 2},
    {"name": "c", "kind": "conv2d", "input": "image", "channels": 2, "chanels": 2},
    {"name": "c", "kind": "conv2d", "input": "image", "channels": -2},
    {"name": "c", "kind": "conv2d", "input": "image", "channels": "many"},
    {"name": "c", "kind": "conv2d", "input": "image"},
    {"name": "a-b", "kind": "relu", "input": "image"},
    {"use": "layer"},
])
def test_schema_rejects_mistakes(validator, node):
    assert list(validator.iter_errors(_spec(node)))


def test_schema_covers_every_model():
    defs = spec_json_schema()["$defs"]
    from routegraph.spec.schema import LAYER_MODELS, NODE_MODELS

    for model in LAYER_MODELS + NODE_MODELS:
        assert model.__name__ in defs
    assert {"JunctionNode", "ClassifierNode", "UseSpec", "RouterSpec", "InputSpec", "TemplateSpec"} <= set(defs)
    assert EXPRESSION in defs["Conv2dNode"]["properties"]["channels"]["anyOf"]
    assert "anyOf" not in defs["Conv2dNode"]["properties"]["kind"]  # kinds stay literal for completion


def test_schema_command(tmp_path, capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == spec_json_schema()
    out = tmp_path / "s.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert out.read_text() == dumps_schema()


def test_spec_and_schema_code_never_import_torch():
    code = (
        "import sys\n"
        "import routegraph.spec\n"
        "from routegraph.spec.jsonschema import dumps_schema\n"
        "from routegraph.cli.main import main\n"
        "dumps_schema(); routegraph.spec.load_spec('specs/chain_8layer.yaml')\n"
        "import io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['schema'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
