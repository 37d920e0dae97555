"""The validation split: a fixed-seed stratified slice of train (or the source's own val split),
disjoint from what the training stream visits."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from routegraph.data import BatchStream, load_task
from routegraph.data.seeding import generator_for
from routegraph.data.split import holdout_size, stratified_holdout
from routegraph.data.task import load_cached_task, save_task
from routegraph.errors import DataError

# sorted and uneven, like the hybrid task (digits first, then objects)
SORTED = torch.cat([torch.full((n,), c) for c, n in enumerate([500, 130, 7, 61, 302])])


@pytest.mark.parametrize("fraction, cap", [(0.1, 0), (0.25, 0), (0.1, 50), (0.5, 200), (0.01, 0)])
def test_holdout_is_disjoint_and_stratified(fraction, cap):
    held = stratified_holdout(SORTED, fraction, cap)
    task_rows = set(range(len(SORTED)))
    assert set(held.tolist()) <= task_rows and len(set(held.tolist())) == len(held)  # rows, no repeats
    total = min(round(fraction * len(SORTED)), cap or len(SORTED))
    counts = torch.bincount(SORTED).tolist()
    per_class = torch.bincount(SORTED[held], minlength=len(counts)).tolist()
    for c, n in enumerate(counts):  # oracle: the proportional share of the held-out total, within 1
        assert abs(per_class[c] - total * n / len(SORTED)) <= 1, (c, per_class)
        assert per_class[c] < n  # training keeps every class
    assert sum(per_class) == total


def test_holdout_is_a_seeded_random_choice_not_a_prefix():
    held = stratified_holdout(SORTED, 0.1)
    digits = held[SORTED[held] == 0]
    assert not torch.equal(digits, torch.arange(len(digits)))
    assert not torch.equal(stratified_holdout(SORTED, 0.1, seed=1), held)


def test_holdout_is_the_same_in_another_process():
    code = ("import torch; from routegraph.data.split import stratified_holdout;"
            "labels = torch.arange(7).repeat(300); print(stratified_holdout(labels, 0.1).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(stratified_holdout(torch.arange(7).repeat(300), 0.1).tolist())


def test_holdout_size_edge_cases():
    assert holdout_size([], 0.1) == [] and holdout_size([10, 10], 0.0) == [0, 0]
    assert holdout_size([1, 1, 1], 0.9) == [0, 0, 0]  # a single image stays in training
    assert sum(holdout_size([1000] * 10, 0.1, max_examples=55)) == 55


@pytest.fixture(scope="module")
def task():
    return load_task("synthetic", n_train=300, n_test=20)


def test_task_splits_partition_train(task):
    split = task.with_validation(0.2)
    train, val = split.rows("train"), split.rows("val")
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(300))
    assert not set(train.tolist()) & set(val.tolist())
    assert torch.equal(split.labels("val"), task.train_labels[val])
    assert torch.equal(split.images("val"), task.train_images[val])
    assert split.counts("train") == [a - b for a, b in zip(task.counts("train"), split.counts("val"))]
    assert split.images("test") is task.test_images  # untouched
    assert task.rows("val").numel() == 0 and task.images("train") is task.train_images  # no slice asked for
    assert torch.equal(task.with_validation(0.2).holdout, split.holdout)  # deterministic across calls
    with pytest.raises(DataError, match="no split 'validation'"):
        task.images("validation")


def test_the_stream_never_visits_a_validation_row(task):
    split = task.with_validation(0.1)
    held = set(split.rows("val").tolist())
    stream = BatchStream(split, batch_size=64, seed=3)
    assert stream.num_examples == 270
    seen = torch.cat([stream.global_indices(t) for t in range(30)])  # 1920 positions: 7+ epochs
    assert not set(seen.tolist()) & held
    for epoch in range(7):  # every training row once per epoch
        assert sorted(seen[epoch * 270:(epoch + 1) * 270].tolist()) == split.rows("train").tolist()
    images, labels = stream.batch(5)
    assert torch.equal(labels, task.train_labels[stream.global_indices(5)])


def test_without_a_slice_the_stream_is_unchanged(task):
    """Old runs (val_fraction 0) resume with the batches they were trained on: the epoch permutation itself."""
    stream = BatchStream(task.with_validation(0.0), batch_size=300, seed=4)
    assert torch.equal(stream.global_indices(1), torch.randperm(300, generator=generator_for(4, "epoch", 1)))


def test_a_task_with_its_own_val_split_keeps_it_and_the_cache_stores_it(task, tmp_path):
    own = replace(task, val_images=task.test_images[:10].clone(), val_labels=task.test_labels[:10].clone())
    assert own.with_validation(0.5) is own and own.rows("train").tolist() == list(range(300))
    assert own.validation_record() == {"source": "val", "n": 10}
    save_task(own, tmp_path / "own.pt")
    loaded = load_cached_task(tmp_path / "own.pt")
    assert torch.equal(loaded.labels("val"), own.val_labels) and loaded.stored_splits == ("train", "test", "val")
    assert "val" in loaded.summary().splitlines()[0]
    save_task(task.with_validation(0.5), tmp_path / "sliced.pt")  # a slice is rows, not a stored split
    assert load_cached_task(tmp_path / "sliced.pt").stored_splits == ("train", "test")
