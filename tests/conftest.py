import os
import sys

import pytest

# Keep tests deterministic and light on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _seed_torch():
    torch = sys.modules.get("torch")  # seed only where torch is in use; schema tests stay torch-free and fast
    if torch is not None:
        torch.manual_seed(0)
    yield
