"""Running sweeps locally: skip finished runs, resume partial ones, record everything in sweep.json."""
import io
import json
import os
from pathlib import Path

import pytest
import torch

from routegraph.errors import ConfigError
from routegraph.sweep.executors import LocalExecutor
from routegraph.sweep.runner import run_sweep
from routegraph.sweep.state import SweepLock
from routegraph.train.checkpoint import load_checkpoint
from routegraph.train.loop import Trainer

TINY_SPEC = Path(__file__).resolve().parents[2] / "specs" / "tiny_chain.yaml"


def _sweep(path, out, budget="test", **kwargs):
    stream = io.StringIO()
    summary = run_sweep(path, budget, out=out, executor=LocalExecutor(jobs=1, threads=1), stream=stream, **kwargs)
    return summary, stream.getvalue()


def _index(out):
    return {e["id"]: e for e in json.loads((out / "sweep.json").read_text())["runs"]}


def test_sweep_runs_everything_then_skips_finished_runs(make_experiment, tmp_path):
    path, out = make_experiment(), tmp_path / "out"
    summary, text = _sweep(path, out)
    assert summary.ok and len(summary.ran) == 3, text
    assert "3 to start" in text and "[3/3] done" in text
    index = _index(out)
    assert {e["status"] for e in index.values()} == {"done"} and len(index) == 3
    for run_id, entry in index.items():
        config = json.loads((out / entry["path"] / "config.json").read_text())
        assert config["run_id"] == run_id  # the directory is the id train_run records
        assert config["label"] == entry["label"] and config["group"] == entry["group"]
        assert entry["iteration"] == entry["iterations"] == 4 and entry["error_rate"] is not None
    dynamic = next(e for e in index.values() if e["group"] == "actor_dynamic")
    evaluations = json.loads((out / dynamic["path"] / "eval.json").read_text())["evaluations"]
    assert [e["k_cpt"] for e in evaluations] == [0.0, 1e-8, 1e-7]  # one run, evaluated at every value
    header = json.loads((out / "sweep.json").read_text())
    assert header["budget"]["name"] == "test" and header["budget"]["deviation"] == "a unit-test budget"

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoint.pt")}
    summary, text = _sweep(path, out)
    assert summary.ran == [] and len(summary.skipped) == 3
    assert "3 done, 0 partial" in text and "nothing to do" in text
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoint.pt")}


def test_static_runs_finish_as_done_and_are_skipped_next_time(make_experiment, tmp_path):
    path = make_experiment(groups=[{"name": "static", "method": "static", "tier": 1, "static_exits": [1, 2]}])
    out = tmp_path / "out"
    summary, text = _sweep(path, out)
    assert summary.ok and len(summary.ran) == 2, text
    index = _index(out)
    assert {e["status"] for e in index.values()} == {"done"}, index
    assert all(e["error_rate"] is not None and e["mean_ops"] > 0 for e in index.values())
    summary, text = _sweep(path, out)
    assert summary.ran == [] and len(summary.skipped) == 2, text


def test_a_killed_sweep_resumes_from_checkpoints(make_experiment, tmp_path, monkeypatch):
    path = make_experiment(groups=[{"name": "actor", "method": "actor", "k_cpt": [1e-8, 1e-7]}])
    out = tmp_path / "out"
    original = Trainer.step
    calls = {"n": 0}

    def killed_in_the_second_run(self):
        calls["n"] += 1
        if calls["n"] == 6 + 4:  # the second run's 4th step (iteration 3; checkpoint at 2)
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "step", killed_in_the_second_run)
    with pytest.raises(KeyboardInterrupt):
        _sweep(path, out, budget="test6")
    monkeypatch.setattr(Trainer, "step", original)
    statuses = {e["group"] + str(e["k_cpt"]): (e["status"], e["iteration"]) for e in _index(out).values()}
    assert statuses == {"actor1e-08": ("done", 6), "actor1e-07": ("partial", 2)}

    summary, text = _sweep(path, out, budget="test6")
    assert "1 done, 1 partial" in text and len(summary.ran) == 1 and summary.ok
    resumed = out / summary.ran[0]
    assert len(json.loads((out / ".sweep" / "runs" / f"{summary.ran[0]}.json").read_text())["attempts"]) == 2
    lines = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines if "loss" in line] == [1, 2, 3, 4, 5, 6]

    # the resumed run ends with the weights of an uninterrupted one
    straight, _ = _sweep(path, tmp_path / "straight", budget="test6", only=None)
    a = load_checkpoint(resumed / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "straight" / summary.ran[0] / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_failed_runs_are_recorded_and_the_sweep_goes_on(make_experiment, tmp_path):
    path = make_experiment(groups=[{"name": "bad", "method": "actor", "k_cpt": [1e-8], "set": {"depth": 3}},
                                   {"name": "good", "method": "actor", "k_cpt": [1e-8]}])
    summary, text = _sweep(path, tmp_path / "out")
    assert len(summary.failed) == 1 and len(summary.ran) == 1 and not summary.ok
    assert "FAILED" in text and "depth" in text
    entry = next(e for e in _index(tmp_path / "out").values() if e["group"] == "bad")
    assert entry["status"] == "failed" and "depth" in entry["error"]


def test_budgets_do_not_mix_in_one_folder(make_experiment, tmp_path):
    path, out = make_experiment(groups=[{"name": "actor", "method": "actor", "k_cpt": [1e-8]}]), tmp_path / "out"
    _sweep(path, out)
    with pytest.raises(ConfigError, match="holds a sweep with budget 'test'.*another --out"):
        _sweep(path, out, budget="test6")


def test_one_sweep_at_a_time_per_folder(make_experiment, tmp_path):
    out = tmp_path / "out"
    lock = out / ".sweep" / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    with pytest.raises(ConfigError, match="another sweep"):
        _sweep(make_experiment(), out)
    lock.write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": os.uname().nodename}))  # a dead process
    with SweepLock(out):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()



def test_ids_match_what_train_run_records_when_the_task_sets_the_classes(make_experiment, tmp_path):
    # a spec written for 7 classes on a 10-class task: train_run pins num_classes=10, and so does the plan
    spec = tmp_path / "seven.yaml"
    spec.write_text(TINY_SPEC.read_text().replace("num_classes: 10", "num_classes: 7"))
    path = make_experiment(spec=str(spec), groups=[{"name": "actor", "method": "actor", "k_cpt": [1e-8]}])
    summary, text = _sweep(path, tmp_path / "out")
    (run_id,) = summary.ran
    config = json.loads((tmp_path / "out" / run_id / "config.json").read_text())
    assert config["overrides"] == {"num_classes": 10} and config["run_id"] == run_id
