"""The real MNIST / CIFAR-10 files (slow; not in CI): run with ``pytest -m slow tests/data``.

Uses $ROUTEGRAPH_DATA if set, else /work/shared/data; caches go to a temporary dir.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from routegraph.data import load_task

REAL_DATA = Path(os.environ.get("ROUTEGRAPH_DATA") or "/work/shared/data")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REAL_DATA / "mnist").is_dir(), reason=f"no real data in {REAL_DATA}"),
]


@pytest.fixture
def real_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTEGRAPH_DATA", str(REAL_DATA))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_hybrid_counts_and_fast_second_load(real_env):
    task = load_task("hybrid")
    assert task.counts("train") == [5923, 6742, 5958, 6131, 5842] + [5000] * 5
    assert task.counts("test") == [980, 1135, 1032, 1010, 982] + [1000] * 5
    assert task.train_images.shape == (55596, 3, 32, 32)
    start = time.perf_counter()
    again = load_task("hybrid")
    assert time.perf_counter() - start < 1.0
    assert again.counts("train") == task.counts("train")
    assert torch.equal(again.test_images[:100], task.test_images[:100])
    # Linear colour space: gamma-decoded CIFAR is darker on average than the raw values.
    cifar_mean = float(task.test_images[task.test_labels >= 5][:2000].float().mean())
    assert 0.15 < cifar_mean < 0.35


def test_cifar_variants_counts(real_env):
    assert load_task("cifar2").counts("train") == [5000, 45000]
    cifar5 = load_task("cifar5")
    assert cifar5.class_names == ("cat", "dog", "deer", "horse", "other")
    assert cifar5.counts("train") == [5000] * 4 + [30000]
    assert cifar5.counts("test") == [1000] * 4 + [6000]
    assert load_task("cifar10").counts("test") == [1000] * 10


def test_mnist_task_counts(real_env):
    task = load_task("mnist")
    assert task.counts("train") == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert task.counts("test") == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
