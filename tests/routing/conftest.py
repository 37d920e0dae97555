"""Make ``tests/strategies_regions.py`` importable (pytest runs with --import-mode=importlib,
which puts no test folder on sys.path)."""
import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests use tiny tensors: a second OpenMP thread only adds wake-up latency
    (~12 ms per kernel when the other core is busy)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
