import os

import pytest

# Keep tests deterministic and light on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _seed_torch():
    try:
        import torch
    except ImportError:  # schema-only environments
        yield
        return
    torch.manual_seed(0)
    yield
