"""Helpers for the sweep tests: a tiny experiment (tiny_chain on the synthetic task, 4 iterations at batch 16)."""
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY_SPEC = ROOT / "specs" / "tiny_chain.yaml"

TEST_BUDGETS = {
    "test": {"iterations": 4, "schedule": "small", "batch_size": 16, "checkpoint_every": 2, "log_every": 1,
             "eval_examples": 50, "deviation": "a unit-test budget"},
    "test6": {"iterations": 6, "schedule": "small", "batch_size": 16, "checkpoint_every": 2, "log_every": 1,
              "deviation": "a unit-test budget"},
}


def tiny_experiment_data(**changes) -> dict:
    data = {
        "kind": "experiment",
        "name": "tiny",
        "spec": str(TINY_SPEC),
        "data": "synthetic",
        "data_options": {"n_train": 200, "n_test": 50},
        "budgets": TEST_BUDGETS,
        "k_cpt_set": [0.0, 1e-8, 1e-7],
        "tier_k_cpt": [1e-8],
        "seconds_per_step": {"tiny_chain": {"static": 0.01, "routed": 0.02}},
        "groups": [
            {"name": "actor", "method": "actor", "tier": 1, "k_cpt": [1e-8, 1e-7]},
            {"name": "actor_dynamic", "method": "actor", "dynamic_k_cpt": True, "tier": 1},
        ],
    }
    data.update(changes)
    return data


@pytest.fixture
def tiny_data():
    """``tiny_data(**changes)``: the tiny experiment as a dict."""
    return tiny_experiment_data


@pytest.fixture
def make_experiment(tmp_path):
    """``make_experiment(**changes)`` writes a tiny experiment file and returns its path."""
    counter = [0]

    def make(text: str | None = None, **changes) -> Path:
        counter[0] += 1
        path = tmp_path / f"experiment{counter[0]}.yaml"
        path.write_text(text if text is not None else yaml.safe_dump(tiny_experiment_data(**changes), sort_keys=False))
        return path

    return make
