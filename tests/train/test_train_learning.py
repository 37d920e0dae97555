"""A seeded learning test on the built-in data: compute cost moves examples to early exits."""
import pytest

from routegraph.train import TrainConfig
from routegraph.train.run import train_run

OPTIONS = {"n_train": 2000, "n_test": 500, "seed": 0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for k_cpt in (0.0, 2e-5):
        config = TrainConfig(method="actor", k_cpt=k_cpt, iterations=150, batch_size=64, seed=0, lr=0.05)
        result = train_run("specs/tiny_chain.yaml", tmp_path_factory.mktemp(f"k{k_cpt}"), config,
                           data_options=OPTIONS, progress=False)
        out[k_cpt] = result.evaluations[0]
    return out


def test_large_k_cpt_exits_early_and_saves_ops(runs):
    cheap, free = runs[2e-5], runs[0.0]
    first_exit = next(iter(cheap["classifiers"]))
    assert cheap["classifiers"][first_exit]["fraction"] > 0.8
    assert cheap["mean_ops"] < 0.8 * free["mean_ops"]


def test_both_beat_chance(runs):
    for record in runs.values():
        assert record["error_rate"] < 0.6  # chance is 0.9 on 10 balanced classes
