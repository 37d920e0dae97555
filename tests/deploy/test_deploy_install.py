"""``pip install 'routegraph[deploy]'`` into a fresh virtual environment without torch runs an exported folder.

Slow (a new venv and a pip install from the package index, about a minute): run with ``pytest -m slow``.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from infer_helpers import randomize, tiny_chain_graph
from routegraph import deploy
from routegraph.export import export_model
from routegraph.nn import build_model

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_deploy_extra_installs_and_runs_without_torch(tmp_path):
    folder = export_model(randomize(build_model(tiny_chain_graph()), seed=5), tmp_path / "net")
    x = np.random.default_rng(0).random((25, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = deploy.load(folder).predict(x)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{REPO}[deploy]"],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    script = ("import importlib.util, numpy as np\n"
              "assert importlib.util.find_spec('torch') is None, 'torch was installed'\n"
              "from routegraph import deploy\n"
              f"out = deploy.load({str(folder)!r}).predict(np.load({str(tmp_path / 'x.npy')!r}))\n"
              f"np.savez({str(tmp_path / 'out.npz')!r}, exit=out.exit, predictions=out.predictions, ops=out.ops)\n")
    done = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(tmp_path / "out.npz")
    for key in ("exit", "predictions", "ops"):
        assert np.array_equal(got[key], getattr(expected, key))
