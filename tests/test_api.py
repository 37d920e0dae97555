"""The top-level Python API (issue 17, §6): the names users need, lazily, and ``import routegraph``
stays torch-free until a name of the torch half is used."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import routegraph
from routegraph.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
# what issue 17 §6 asks the top level to export, and where each lives
PUBLIC = {
    "load_spec": "routegraph.spec.loader", "compile_spec": "routegraph.graph.compiler",
    "build_model": "routegraph.nn.model", "load_run": "routegraph.train.rundir",
    "route": "routegraph.infer.executor", "register_kind": "routegraph.kinds.registry",
    "Task": "routegraph.data.task", "train_run": "routegraph.train.run",
}
TORCH_FREE = ("load_spec", "loads_spec", "compile_spec", "CompiledGraph", "LayerKind", "register_kind",
              "unregister_kind")


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_the_top_level_exports_each_name_from_its_home(name):
    import importlib

    assert name in routegraph.__all__
    assert getattr(routegraph, name) is getattr(importlib.import_module(PUBLIC[name]), name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'lod_spec'"):
        routegraph.lod_spec  # noqa: B018


def test_import_routegraph_and_its_spec_half_never_import_torch():
    code = (
        "import sys\n"
        "import routegraph\n"
        f"for name in {TORCH_FREE!r}: getattr(routegraph, name)\n"
        "routegraph.compile_spec(routegraph.load_spec('specs/tiny_chain.yaml'))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "routegraph.Task\n"
        "assert 'torch' in sys.modules\n"  # the check can fail: Task is of the torch half
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def _task(n_train=48, n_test=12, features=12):
    rng = np.random.default_rng(0)
    y = np.arange(n_train + n_test) % 3
    x = rng.normal(size=(len(y), features)).astype(np.float32)
    x[np.arange(len(y)), y] += 6.0
    return routegraph.Task.from_arrays(x[:n_train], y[:n_train], x[n_train:], y[n_train:], class_names=["a", "b", "c"])


def test_train_run_on_a_task_in_memory(tmp_path, capsys):
    import json

    task = _task()
    config = routegraph.TrainConfig(method="actor", k_cpt=1e-7, iterations=5, batch_size=8)
    spec = ROOT / "tests" / "cli" / "fixtures" / "mlp_12.yaml"
    result = routegraph.train_run(spec, tmp_path / "run", config, task=task, progress=False)
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["data"] == task.name == "arrays" and record["class_names"] == ["a", "b", "c"]
    assert record["validation"]["n"] == len(task.with_validation(config.val_fraction).rows("val")) > 0
    assert [e["n"] for e in result.evaluations] == [12]
    run = routegraph.load_run(tmp_path / "run")
    out = routegraph.route(run.model, task.test_images)
    assert out.predictions.shape == (12,) and set(out.exit.tolist()) <= {0, 1}

    # the arrays are not on disk: evaluate says so and takes --data; the same rows from a file evaluate alike
    from routegraph.cli.main import main

    assert main(["evaluate", str(tmp_path / "run")]) == 2
    assert "given in Python (train_run(task=...)), which cannot be loaded again; pass --data" in capsys.readouterr().err
    np.savez(tmp_path / "same.npz", x_train=task.train_images.numpy(), y_train=task.train_labels.numpy(),
             x_test=task.test_images.numpy(), y_test=task.test_labels.numpy(), class_names=np.array(["a", "b", "c"]))
    assert main(["evaluate", str(tmp_path / "run"), "--data", f"npz:{tmp_path / 'same.npz'}"]) == 0
    assert "error=" in capsys.readouterr().out


def test_train_run_takes_a_task_or_a_data_name_not_both(tmp_path):
    with pytest.raises(ConfigError, match="either task= or data="):
        routegraph.train_run(ROOT / "specs" / "tiny_chain.yaml", tmp_path / "r", routegraph.TrainConfig(),
                             task=_task(), data="synthetic")
    assert not (tmp_path / "r").exists()
