"""Plugin kinds through the ``routegraph.kinds`` entry-point group, from outside the package:
a package on a temporary directory with a ``*.dist-info/entry_points.txt``, put on PYTHONPATH
for the CLI; a broken plugin is one line and exit status 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
"""A plugin's kinds: one as an object, one in a list, one from a function."""
from typing import Literal

from routegraph.kinds import LayerFacts, LayerKind, Strict
from routegraph.kinds.shapes import one_input


class PlugScaleLayer(Strict):
    """Doubles its input."""

    kind: Literal["plugscale"]


class PlugIdLayer(Strict):
    """Passes its input on."""

    kind: Literal["plugid"]


class PlugNegLayer(Strict):
    """Negates its input."""

    kind: Literal["plugneg"]


def rule(config, in_shapes):
    return LayerFacts(one_input(in_shapes, "plugin kind"), 0, 0)


SCALE = LayerKind("plugscale", PlugScaleLayer, rule, "rg_plugin_torch:double")
KINDS = [LayerKind("plugid", PlugIdLayer, rule, "rg_plugin_torch:identity")]


def more():
    return [LayerKind("plugneg", PlugNegLayer, rule, "rg_plugin_torch:negate")]
'''

TORCH_HALF = '''
from routegraph.nn.layers import Lambda


def double(layer):
    return Lambda(lambda x: 2 * x, "double")


def identity(layer):
    return Lambda(lambda x: x, "identity")


def negate(layer):
    return Lambda(lambda x: -x, "negate")
'''

SPEC = """
name: plugged
input: {shape: [4]}
nodes:
  - {name: s, kind: plugscale, input: image}
  - {name: i, kind: plugid, input: s}
  - {name: n, kind: plugneg, input: i}
  - {name: out, kind: classifier, input: n, classes: 2}
"""


def _distribution(where: Path, name: str, entry_points: str, modules: dict[str, str]) -> Path:
    for module, text in modules.items():
        (where / f"{module}.py").write_text(dedent(text), encoding="utf-8")
    info = where / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[routegraph.kinds]\n" + dedent(entry_points), encoding="utf-8")
    return where


def _cli(*args: str, path: Path | None, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(([str(path)] if path else []) + [str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "routegraph", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def plugin(tmp_path) -> Path:
    where = tmp_path / "site"
    where.mkdir()
    return _distribution(where, "rg_plugin", """\
        scale = rg_plugin:SCALE
        listed = rg_plugin:KINDS
        made = rg_plugin:more
        """, {"rg_plugin": PLUGIN, "rg_plugin_torch": TORCH_HALF})


def test_the_cli_accepts_a_plugins_kinds(plugin, tmp_path):
    spec = tmp_path / "plugged.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    without = _cli("compile", str(spec), path=None, cwd=tmp_path)
    assert without.returncode == 2 and "unknown kind 'plugscale'" in without.stderr
    result = _cli("compile", str(spec), path=plugin, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if len(line.split()) > 2}
    assert {rows.get(n) for n in ("s", "i", "n")} == {"plugscale", "plugid", "plugneg"}, result.stdout
    schema = _cli("schema", path=plugin, cwd=tmp_path)
    assert schema.returncode == 0 and all(f'"const": "{k}"' in schema.stdout for k in ("plugscale", "plugid", "plugneg"))


def test_the_plugins_modules_run_in_the_built_model(plugin, tmp_path):
    code = dedent("""
        import torch, routegraph
        graph = routegraph.compile_spec(routegraph.loads_spec(open("plugged.yaml").read()))
        model = routegraph.build_model(graph)
        x = torch.randn(3, 4)
        expected = model.nodes["out"](-(2 * x))
        assert torch.allclose(model(x).logits["out"], expected)
        print("ok")
    """)
    (tmp_path / "plugged.yaml").write_text(SPEC, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(ROOT)])}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("entry, module, expected", [
    ("broken = rg_broken:KINDS", "raise RuntimeError('boom')",
     "plugin entry point 'broken' = 'rg_broken:KINDS' (group 'routegraph.kinds') failed to load: RuntimeError: boom"),
    ("broken = rg_broken:MISSING", "X = 1",
     "plugin entry point 'broken' = 'rg_broken:MISSING' (group 'routegraph.kinds') failed to load: AttributeError"),
    ("broken = rg_broken:X", "X = ['not a kind']",
     "plugin entry point 'broken' = 'rg_broken:X' (group 'routegraph.kinds'): a layer kind must be a "
     "routegraph.kinds.LayerKind, got str"),
    ("broken = rg_broken:X", "from routegraph.kinds import relu\nX = relu.KINDS",
     "plugin entry point 'broken' = 'rg_broken:X' (group 'routegraph.kinds'): layer kind 'relu' is already "
     "registered"),
])
def test_a_broken_plugin_is_one_line_and_exit_2(tmp_path, entry, module, expected):
    where = tmp_path / "site"
    where.mkdir()
    _distribution(where, "rg_broken", entry + "\n", {"rg_broken": module})
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: {shape: [4]}\nnodes:\n  - {name: out, kind: classifier, input: image, "
                    "classes: 2}\n", encoding="utf-8")
    result = _cli("compile", str(spec), path=where, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
