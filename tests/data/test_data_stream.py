"""BatchStream: batches are a pure function of (seed, iteration); epochs; data-parallel shards."""
from __future__ import annotations

import pytest
import torch

from routegraph.data import BatchStream, load_task
from routegraph.errors import ConfigError


@pytest.fixture(scope="module")
def task():
    return load_task("synthetic", n_train=100, n_test=10, seed=0)


def test_same_seed_and_iteration_give_the_same_batch_from_a_fresh_stream(task):
    uninterrupted = BatchStream(task, batch_size=32, seed=5)
    batches = [uninterrupted.batch(t) for t in range(8)]
    resumed = BatchStream(task, batch_size=32, seed=5)  # a new process resuming at t = 6
    for t in (6, 7, 3):
        images, labels = resumed.batch(t)
        assert torch.equal(images, batches[t][0]) and torch.equal(labels, batches[t][1])
    other = BatchStream(task, batch_size=32, seed=6).batch(6)
    assert not torch.equal(other[1], batches[6][1])


def test_every_example_once_per_epoch_even_across_batch_boundaries(task):
    stream = BatchStream(task, batch_size=32, seed=1, augment=False)  # 100 examples: batches straddle epochs
    seen = torch.cat([stream.global_indices(t) for t in range(25)])  # 800 positions = 8 epochs
    for epoch in range(8):
        assert sorted(seen[epoch * 100:(epoch + 1) * 100].tolist()) == list(range(100))
    assert not torch.equal(stream.permutation(0), stream.permutation(1))
    assert stream.epoch_of(25) == 8.0


def test_images_match_the_task_when_not_augmented(task):
    stream = BatchStream(task, batch_size=16, seed=2, augment=False)
    images, labels = stream.batch(3)
    index = stream.global_indices(3)
    assert torch.equal(images, task.train_images[index].float()) and torch.equal(labels, task.train_labels[index])
    assert images.dtype == torch.float32 and labels.dtype == torch.int64


def test_augmented_batches_differ_from_raw_but_keep_labels(task):
    plain = BatchStream(task, batch_size=16, seed=2, augment=False).batch(4)
    augmented = BatchStream(task, batch_size=16, seed=2).batch(4)
    assert torch.equal(plain[1], augmented[1]) and not torch.equal(plain[0], augmented[0])


@pytest.mark.parametrize("world_size", [2, 4])
def test_rank_slices_assemble_the_single_process_batch(task, world_size):
    whole = BatchStream(task, batch_size=32, seed=3).batch(9)
    parts = [BatchStream(task, batch_size=32, seed=3, rank=r, world_size=world_size).batch(9) for r in range(world_size)]
    assert all(len(p[1]) == 32 // world_size for p in parts)
    assert torch.equal(torch.cat([p[0] for p in parts]), whole[0])
    assert torch.equal(torch.cat([p[1] for p in parts]), whole[1])


def test_float16_task_gives_float32_batches(tmp_path):
    from routegraph.data.task import load_cached_task, save_task

    save_task(load_task("synthetic", n_train=40, n_test=10), tmp_path / "t.pt")
    half = load_cached_task(tmp_path / "t.pt")
    assert half.train_images.dtype == torch.float16
    images, _ = BatchStream(half, batch_size=8).batch(0)
    assert images.dtype == torch.float32


def test_batch_larger_than_the_dataset(task):
    small = load_task("synthetic", n_train=10, n_test=10)
    indices = BatchStream(small, batch_size=25, augment=False).global_indices(0)
    assert len(indices) == 25 and set(indices.tolist()) == set(range(10))


def test_iterate_yields_consecutive_batches(task):
    stream = BatchStream(task, batch_size=8, seed=0)
    items = list(stream.iterate(start=5, stop=8))
    assert [t for t, _, _ in items] == [5, 6, 7]
    assert torch.equal(items[1][1], stream.batch(6)[0])


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"rank": 2, "world_size": 2}, {"rank": -1}, {"batch_size": 30, "world_size": 4}],
)
def test_bad_settings(task, kwargs):
    with pytest.raises(ConfigError):
        BatchStream(task, **kwargs)
    with pytest.raises(ConfigError):
        BatchStream(task).batch(-1)
