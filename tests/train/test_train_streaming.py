"""Training, its periodic evaluation, the final evaluation and calibrate read the stored images a batch
at a time: no split is ever copied into memory whole (a folder task's memory-mapped cache stays on disk,
and anonymous memory is O(batch), not O(dataset); docs/data.md "Larger than memory")."""
from __future__ import annotations

import inspect
import json
from dataclasses import replace

from copy_spy import copy_spy

from routegraph.cli.main import main
from routegraph.data import load_task
from routegraph.train import TrainConfig
from routegraph.train.evaluate import evaluate
from routegraph.train.run import train_run

EVAL_BATCH = inspect.signature(evaluate).parameters["batch_size"].default  # what train_run evaluates with
BATCH = 16


def test_no_split_is_copied_whole(tmp_path, monkeypatch):
    # float16 like a cache (so that .float() copies); every split larger than the evaluation batch, so
    # that a copy of any split whole, or of a calibration half, would be seen
    task = load_task("synthetic", n_train=2400, n_test=1200)
    train, train_copies = copy_spy(task.train_images.half())
    test, test_copies = copy_spy(task.test_images.half())
    spied = replace(task, train_images=train, test_images=test)
    monkeypatch.setattr("routegraph.data.load_task", lambda *a, **k: spied)
    config = TrainConfig(method="actor", dynamic_k_cpt=True, k_cpt_set=(0.0, 1e-6), iterations=3, batch_size=BATCH,
                         eval_every=2, eval_examples=0, val_fraction=0.5, checkpoint_every=0, augment=True)
    train_run("specs/tiny_chain.yaml", tmp_path / "run", config, progress=False)
    record = json.loads((tmp_path / "run" / "config.json").read_text())["validation"]
    assert record["n"] == 1200 > EVAL_BATCH  # the held-out half of train: 2 x 600 for calibrate
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["eval"]["n"] for line in lines if "eval" in line] == [1200]  # the whole validation split, read
    # training gathered batches of BATCH; the evaluations chunks of EVAL_BATCH: nothing larger
    assert BATCH in train_copies and max(train_copies) <= EVAL_BATCH, sorted(set(train_copies))[-5:]
    assert max(test_copies) <= EVAL_BATCH and sum(test_copies) >= 2 * 1200  # the test split, at both k_cpt
    train_copies.clear()
    tested = len(test_copies)
    assert main(["calibrate", str(tmp_path / "run"), "--budget-ops", "1e9"]) == 0
    assert train_copies and max(train_copies) <= EVAL_BATCH and sum(train_copies) >= 1200
    assert len(test_copies) == tested  # calibrate read no test image
