"""routegraph.deploy refuses a bad folder or bad inputs with one clear DeployError, and needs no torch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from infer_helpers import randomize, tiny_chain_graph
from routegraph import deploy
from routegraph.errors import DeployError, RouteGraphError
from routegraph.export import export_model
from routegraph.nn import build_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("exported")
    fixed = export_model(randomize(build_model(tiny_chain_graph()), seed=1), base / "fixed",
                         metadata={"run_id": "test-fixed", "class_names": [f"c{i}" for i in range(10)]})
    dynamic = export_model(randomize(build_model(tiny_chain_graph(k_cpt_input=True)), seed=2), base / "dynamic")
    return fixed, dynamic


def _copy(folder: Path, to: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, to))


def test_deploy_error_is_a_routegraph_error():
    assert issubclass(DeployError, RouteGraphError)


def test_what_a_deployment_says_about_itself(exported):
    net = deploy.load(exported[0])
    assert net.input_shape == (3, 32, 32) and net.run_id == "test-fixed" and not net.k_cpt_input
    assert net.classifiers == ("l1.exit", "l2.exit", "l3.exit") and net.class_names[:2] == ["c0", "c1"]
    graph = tiny_chain_graph()
    assert net.path_ops.tolist() == [p.ops for p in graph.paths]
    assert deploy.load(exported[1]).k_cpt_input


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "region1.onnx").write_bytes(b"\0" * 10), r"region1\.onnx: checksum mismatch"),
    (lambda d: (d / "region0.onnx").unlink(), r"region0\.onnx: missing"),
    (lambda d: (d / "manifest.json").unlink(), r"not an exported folder \(no manifest\.json"),
    (lambda d: (d / "manifest.json").write_text("{not json"), r"manifest\.json: not a valid manifest"),
    (lambda d: (d / "manifest.json").write_text(json.dumps({**json.loads((d / "manifest.json").read_text()),
                                                             "format": "routegraph-deploy/0"})),
     r"format 'routegraph-deploy/0', this version reads 'routegraph-deploy/1'"),
], ids=["altered", "missing-file", "no-manifest", "bad-json", "old-format"])
def test_a_damaged_folder_is_refused_by_name(exported, tmp_path, damage, message):
    folder = _copy(exported[0], tmp_path / "net")
    damage(folder)
    with pytest.raises(DeployError, match=message):
        deploy.load(folder)


def test_no_folder(tmp_path):
    with pytest.raises(DeployError, match="no such folder"):
        deploy.load(tmp_path / "nothing")


def test_bad_inputs_and_k_cpt(exported):
    fixed, dynamic = deploy.load(exported[0]), deploy.load(exported[1])
    x = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)
    with pytest.raises(DeployError, match=r"inputs of shape \[4, 3, 16, 16\]; the network takes \[N, 3, 32, 32\]"):
        fixed.predict(x[:, :, :16, :16])
    with pytest.raises(DeployError, match="NaN"):
        fixed.predict(np.where(x > 0.5, np.nan, x))
    with pytest.raises(DeployError, match="must be numbers"):
        fixed.predict(np.array([["a"]]))
    with pytest.raises(DeployError, match="do not read k_cpt"):
        fixed.predict(x, 4e-9)
    with pytest.raises(DeployError, match="pass k_cpt="):
        dynamic.predict(x)
    with pytest.raises(DeployError, match=">= 0"):
        dynamic.predict(x, -1.0)
    with pytest.raises(DeployError, match="3 values for 4 inputs"):
        dynamic.predict(x, [0.0, 1e-9, 2e-9])
    with pytest.raises(DeployError, match=r"force: unknown junction 'j9'"):
        fixed.predict(x, force={"j9": [0, 0, 0, 0]})
    with pytest.raises(DeployError, match=r"force\['j1'\]: expected 4 sink indices in 0\.\.1"):
        fixed.predict(x, force={"j1": [0, 2, 0, 0]})
    with pytest.raises(DeployError, match="batch_size"):
        fixed.predict(x, batch_size=0)


def test_runs_without_torch(exported, tmp_path):
    """The exported folder runs in a Python where torch cannot be imported, with the same results."""
    x = np.random.default_rng(3).random((40, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = deploy.load(exported[0]).predict(x)
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from routegraph import deploy\n"
        f"out = deploy.load({str(exported[0])!r}).predict(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"np.savez({str(tmp_path / 'out.npz')!r}, exit=out.exit, predictions=out.predictions, ops=out.ops)\n"
        "assert 'torch' not in {m.split('.')[0] for m, v in sys.modules.items() if v is not None}\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    got = np.load(tmp_path / "out.npz")
    for key in ("exit", "predictions", "ops"):
        assert np.array_equal(got[key], getattr(expected, key))
