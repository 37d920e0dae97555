import os
import sys

import pytest

# Small tensors: one intra-op thread avoids oversubscription and spin-waits on a 2-core machine,
# and makes results independent of the machine's core count.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed_and_pin_torch():
    torch = sys.modules.get("torch")  # only where torch is in use; schema tests stay torch-free and fast
    if torch is not None:
        torch.set_num_threads(1)
        torch.manual_seed(0)
    yield
