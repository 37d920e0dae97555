"""The module kind from the command line: a user's own nn.Module, in a file outside the package
on a temporary sys.path, is refused until --allow-import (or ROUTEGRAPH_ALLOW_IMPORT) allows it;
a run trained with it records its targets and args, and evaluate/predict need the permission."""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

from routegraph.cli.main import build_parser, main
from routegraph.imports import ENV_VAR
from user_modules import forget, write_user_package

NAME = "rg_cli_user"
DATA = ["--data", "synthetic", "--data-option", "n_train=48", "--data-option", "n_test=16"]


def spec_text(module: str) -> str:
    return f"""
name: user_blocks
params: {{num_classes: 10}}
input: {{shape: [3, 32, 32]}}
nodes:
  - {{name: stem, kind: module, input: image, target: "{module}:make_stem", args: {{width: 4}}}}
  - {{name: pool, kind: maxpool, input: stem, kernel: 4}}
  - {{name: desc, kind: flatten, input: pool}}
  - name: j
    kind: junction
    router: {{reads: desc, layers: [{{kind: linear, features: 2}}]}}
    sinks: [exit1, block]
  - {{name: exit1, kind: classifier, input: desc, classes: "${{num_classes}}"}}
  - {{name: block, kind: module, input: pool, target: "{module}:ConvRelu", args: {{channels: 4, out_channels: 6}}}}
  - {{name: flat, kind: flatten, input: block}}
  - {{name: exit2, kind: classifier, input: flat, classes: "${{num_classes}}"}}
"""


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    module = write_user_package(root / "site", NAME)
    spec = root / "user_blocks.yaml"
    spec.write_text(spec_text(module))
    sys.path.insert(0, str(root / "site"))
    yield spec, module, root / "site" / "imported.flag", root
    sys.path.remove(str(root / "site"))
    forget(NAME)


@pytest.fixture(scope="module")
def run(user):
    spec, _, _, root = user
    out = root / "run"
    argv = ["train", str(spec), "--out", str(out), "--iterations", "3", "--batch-size", "8", "--eval-every", "0",
            "--no-progress", "--allow-import", NAME, *DATA]
    assert main(argv) == 0
    return out


def refused(capsys, argv, flag) -> list[str]:
    """The command exits 2, one line per refused node naming --allow-import, and imports nothing."""
    forget(NAME)
    flag.unlink(missing_ok=True)
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and all("--allow-import" in line and ENV_VAR in line for line in lines), lines
    assert NAME not in sys.modules and not flag.exists()
    return lines


def test_compile_needs_the_permission(user, capsys, monkeypatch):
    spec, module, flag, _ = user
    monkeypatch.delenv(ENV_VAR, raising=False)
    first, second = refused(capsys, ["compile", str(spec)], flag)  # both nodes, at their targets
    assert first.startswith(f"{spec}:6:") and f"nodes.0.target: import of '{module}' is not allowed" in first
    assert second.startswith(f"{spec}:14:") and "nodes.5.target" in second
    assert main(["compile", str(spec), "--allow-import", "torch.nn", "--allow-import", NAME]) == 0
    assert re.search(r"^block +module +6x4x4 ", capsys.readouterr().out, re.M) and flag.exists()
    monkeypatch.setenv(ENV_VAR, f"{NAME}.blocks")
    assert main(["compile", str(spec), "--quiet"]) == 0


def test_a_prefix_must_be_a_module_name(user, capsys):
    spec, *_ = user
    assert main(["compile", str(spec), "--allow-import", "rg cli"]) == 2
    assert "'rg cli' is not a module prefix" in capsys.readouterr().err


def test_the_run_records_its_module_targets(run, user):
    _, module, _, _ = user
    config = json.loads((run / "config.json").read_text())
    assert config["modules"] == {
        "stem": {"target": f"{module}:make_stem", "args": {"width": 4}},
        "block": {"target": f"{module}:ConvRelu", "args": {"channels": 4, "out_channels": 6}},
    }


def test_evaluate_and_predict_need_the_same_permission(run, user, capsys, monkeypatch, tmp_path):
    _, module, flag, _ = user
    monkeypatch.delenv(ENV_VAR, raising=False)
    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8))
    for argv in (["evaluate", str(run), *DATA[:2]], ["predict", str(run), str(images)]):
        (err,) = refused(capsys, argv, flag)
        assert f"import of '{module}' is not allowed" in err
        assert main(argv + ["--allow-import", NAME]) == 0, capsys.readouterr().err
        capsys.readouterr()
    monkeypatch.setenv(ENV_VAR, NAME)
    assert main(["predict", str(run), str(images)]) == 0


def test_every_command_that_loads_a_spec_or_run_takes_the_flag():
    from routegraph.cli.main import COMMANDS

    takes = {c for c in COMMANDS if "--allow-import" in build_parser(c).format_help()}
    assert takes == set(COMMANDS) - {"data", "schema", "serve"}  # serve runs an exported folder: no module is imported


def test_compile_says_when_a_module_was_probed_on_the_cpu(user, capsys, tmp_path):
    _, module, _, _ = user
    spec = tmp_path / "cpu.yaml"
    spec.write_text(f"""
name: cpu_probe
input: {{shape: [6]}}
nodes:
  - {{name: m, kind: module, input: image, target: "{module}:NotOnMeta", args: {{features: 6, out_features: 3}}}}
  - {{name: out, kind: classifier, input: m, classes: 2}}
""")
    assert main(["compile", str(spec), "--allow-import", NAME]) == 0
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"warning: {module}:NotOnMeta cannot run on the meta device") and "CPU probe" in line
    assert re.search(r"^m +module +3 +21 +18 ", captured.out, re.M)
