"""Checkpoints and exact resume: same seed + resume == uninterrupted run."""
import json

import pytest
import torch

from routegraph.data import load_task
from routegraph.errors import CheckpointError
from routegraph.nn import build_model
from routegraph.train import Actor, Checkpointer, TrainConfig, Trainer
from routegraph.train.checkpoint import load_checkpoint
from routegraph.train.loop import Trainer as LoopTrainer
from routegraph.train.run import train_run
from tiny_graphs import tiny_chain

SPEC = "specs/tiny_chain.yaml"


@pytest.fixture(scope="module")
def task():
    return load_task("synthetic", n_train=300, n_test=60, seed=1)


def _trainer(task, iterations, hooks=()):
    torch.manual_seed(0)
    model = build_model(tiny_chain(classes=10, size=32))
    config = TrainConfig(iterations=iterations, batch_size=16, k_cpt=1e-6, dynamic_k_cpt=False)
    return Trainer(model, Actor(), task, config=config, hooks=hooks)


def test_trainer_resume_reproduces_uninterrupted_weights(task, tmp_path):
    straight = _trainer(task, 6).fit()
    _trainer(task, 6, hooks=[Checkpointer(tmp_path / "ck.pt", every=3)]).fit(until=4)
    resumed = _trainer(task, 6)
    resumed.load_state_dict(load_checkpoint(tmp_path / "ck.pt"))
    assert resumed.iteration == 4  # saved when the partial run stopped
    resumed.fit()
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_train_run_resumes_after_a_crash(task, tmp_path, monkeypatch):
    config = TrainConfig(method="actor", k_cpt=1e-7, iterations=6, batch_size=16, checkpoint_every=2, log_every=1)
    options = {"n_train": 300, "n_test": 60, "seed": 1}
    train_run(SPEC, tmp_path / "a", config, data_options=options, progress=False)

    original = LoopTrainer.step

    def crash_at_five(self):
        if self.iteration == 5:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(LoopTrainer, "step", crash_at_five)
    with pytest.raises(KeyboardInterrupt):
        train_run(SPEC, tmp_path / "b", config, data_options=options, progress=False)
    monkeypatch.setattr(LoopTrainer, "step", original)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["iteration"] == 4
    with pytest.raises(CheckpointError, match="--resume"):
        train_run(SPEC, tmp_path / "b", config, data_options=options, progress=False)
    train_run(SPEC, tmp_path / "b", config, data_options=options, progress=False, resume=True)

    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    iterations = [json.loads(line)["iteration"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert iterations == [1, 2, 3, 4, 5, 6]


def test_resume_with_other_settings_is_refused(task, tmp_path):
    options = {"n_train": 300, "n_test": 60, "seed": 1}
    config = TrainConfig(method="actor", k_cpt=1e-7, iterations=2, batch_size=16)
    train_run(SPEC, tmp_path, config, data_options=options, progress=False)
    with pytest.raises(CheckpointError, match="different settings"):
        train_run(SPEC, tmp_path, config.with_(k_cpt=1e-6), data_options=options, progress=False, resume=True)


def test_checkpoint_is_loaded_safely_and_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a routegraph checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
