"""Fixtures for the picture tests: fake run directories (see viz_fakes.py)."""
import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # --import-mode=importlib puts no test folder on sys.path
    sys.path.insert(0, _HERE)

import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")

import viz_fakes  # noqa: E402


@pytest.fixture(scope="session")
def chain():
    return viz_fakes.chain_graph()


@pytest.fixture(scope="session")
def tree():
    return viz_fakes.branching_graph()


@pytest.fixture
def experiment(tmp_path, chain):
    """runs/ holding 3 static, 3 actor, 2 pragmatic-critic and 1 dynamic-k_cpt run on the chain."""
    root = tmp_path / "runs"
    viz_fakes.make_experiment(root, chain)
    return root
