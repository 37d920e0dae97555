"""Training evaluates periodically on the validation split, never on the test split; the run
records the split, keeps it on resume, and its id says whether images were held out."""
from __future__ import annotations

import json

import pytest
import torch

from routegraph.data import load_task
from routegraph.errors import CheckpointError, ConfigError
from routegraph.train import TrainConfig
from routegraph.train.run import resume_differences, run_id, train_run
from split_guard import SplitReadError, Tripwire, guarded_task


CONFIG = TrainConfig(method="static", static_classifier="2", iterations=4, batch_size=16, eval_every=2,
                     checkpoint_every=2, lr_half_life=2.0, tau_half_life=1.0)  # half-lives given: runs may grow


def test_periodic_evaluation_never_reads_the_test_split(tmp_path, monkeypatch):
    import importlib

    evaluation = importlib.import_module("routegraph.train.evaluate")  # the module (train exports the function)
    guarded = guarded_task(n_train=200, n_test=10)
    monkeypatch.setattr("routegraph.data.load_task", lambda *a, **k: guarded)
    real = evaluation.evaluate
    final = []

    def evaluate(model, images, labels, k_cpt=None, **kwargs):
        if isinstance(images, Tripwire):  # the final evaluation: the one place the test split belongs
            final.append(k_cpt)
            return {"k_cpt": k_cpt, "split": "test"}
        return real(model, images, labels, k_cpt, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", evaluate)
    result = train_run("specs/tiny_chain.yaml", tmp_path, CONFIG, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    periodic = [line["eval"] for line in lines if "eval" in line]
    assert [line["iteration"] for line in lines if "eval" in line] == [2, 4]
    assert all(e["split"] == "validation" and e["n"] == 20 for e in periodic)  # 10% of 200 training images
    assert final == [CONFIG.k_cpt]
    assert result.config["validation"] == {"val_fraction": 0.1, "val_max": 5000, "source": "train", "seed": 0,
                                           "n": 20}
    assert json.loads((tmp_path / "config.json").read_text())["validation"] == result.config["validation"]


def test_eval_every_without_validation_images_is_refused_before_anything_is_written(tmp_path):
    config = CONFIG.with_(val_fraction=0.0)
    with pytest.raises(ConfigError, match="val_fraction"):
        train_run("specs/tiny_chain.yaml", tmp_path / "run", config, data_options={"n_train": 50, "n_test": 10},
                  progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="val_fraction"):
        TrainConfig(val_fraction=1.0)


def test_resume_keeps_the_split_and_refuses_another(tmp_path):
    options = {"n_train": 120, "n_test": 10}
    train_run("specs/tiny_chain.yaml", tmp_path, CONFIG.with_(iterations=2), data_options=options, progress=False)
    first = json.loads((tmp_path / "config.json").read_text())["validation"]
    with pytest.raises(CheckpointError, match="val_fraction"):
        train_run("specs/tiny_chain.yaml", tmp_path, CONFIG.with_(val_fraction=0.2), data_options=options,
                  resume=True, progress=False)
    train_run("specs/tiny_chain.yaml", tmp_path, CONFIG, data_options=options, resume=True, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["validation"] == first
    # a checkpoint from before the split trained on every image: resuming it under the default slice
    # would change its batches, so it is a difference (resume it with val_fraction=0)
    old = {k: v for k, v in CONFIG.to_json().items() if k not in ("val_fraction", "val_max")}
    assert resume_differences({"config": old}, None, CONFIG, {}) == ["val_fraction (0.0 in the checkpoint, now 0.1)"]
    assert resume_differences({"config": old}, None, CONFIG.with_(val_fraction=0.0), {}) == []


def test_run_ids_of_runs_without_a_split_are_those_before_the_split_existed(monkeypatch):
    """Saved runs (trained on every image, val_fraction 0) keep their ids; a run holding images out,
    the default now, gets another id, so a sweep never takes an old run for a new one."""
    extra = {"data": "synthetic", "data_options": None, "overrides": {}}
    config = TrainConfig(k_cpt=4e-9, iterations=100)
    ids = [run_id(config.with_(val_fraction=0.0), "spec", extra), run_id(config, "spec", extra),
           run_id(config.with_(val_fraction=0.2), "spec", extra), run_id(config.with_(val_max=100), "spec", extra)]
    # oracle: the id computed from the settings as they were before (no val_fraction, val_max)
    before = TrainConfig.to_json
    monkeypatch.setattr(TrainConfig, "to_json", lambda self: {k: v for k, v in before(self).items()
                                                              if k not in ("val_fraction", "val_max")})
    assert ids[0] == run_id(config, "spec", extra)
    assert len(set(ids)) == 4  # a changed split is a different run


def test_evaluate_reads_the_test_split(tmp_path, monkeypatch):
    from routegraph.cli.main import main

    train_run("specs/tiny_chain.yaml", tmp_path, CONFIG.with_(iterations=1, eval_every=0),
              data_options={"n_train": 60, "n_test": 10}, progress=False)
    guarded = guarded_task(n_train=60, n_test=10)
    monkeypatch.setattr("routegraph.data.load_task", lambda *a, **k: guarded)
    with pytest.raises(SplitReadError):
        main(["evaluate", str(tmp_path)])
    assert torch.equal(guarded.labels("train"), load_task("synthetic", n_train=60, n_test=10).train_labels)
