"""Building the paper's tasks from tiny raw files: recipes, labels, caching, verification."""
from __future__ import annotations

import os
import stat
import time

import numpy as np
import pytest
import torch

from routegraph.data import TASKS, find_cached_task, load_task
from routegraph.data.task import load_cached_task, save_task
from routegraph.errors import ConfigError, DataError
from routegraph.io import atomic_torch_save

FP16_TOL = 2e-3  # caches store float16: ~3 significant digits


def pil_resize_28_to_32(image: np.ndarray) -> np.ndarray:
    """Independent bilinear resize (Pillow, float mode) of one 28x28 uint8 image, scaled to [0, 1]."""
    Image = pytest.importorskip("PIL.Image")
    resized = Image.fromarray(image.astype(np.float32) / 255.0, mode="F").resize((32, 32), Image.BILINEAR)
    return np.asarray(resized)


def test_hybrid_labels_classes_and_counts(raw_dir, raw):
    task = load_task("hybrid", raw_dir)
    assert task.class_names == ("0", "1", "2", "3", "4", "airplane", "automobile", "deer", "frog", "horse")
    assert task.flip_symmetric == (False,) * 5 + (True,) * 5
    cifar_pick = [0, 1, 4, 6, 7]
    assert task.counts("train") == raw.mnist_train_counts[:5] + [raw.cifar_train_counts[c] for c in cifar_pick]
    assert task.counts("test") == raw.mnist_test_counts[:5] + [raw.cifar_test_counts[c] for c in cifar_pick]
    assert task.train_images.shape[1:] == (3, 32, 32) and task.train_labels.dtype == torch.int64
    assert task.train_images.dtype == torch.float16
    assert float(task.train_images.min()) >= 0 and float(task.train_images.max()) <= 1


def test_hybrid_cifar_images_are_gamma_decoded_in_file_order(tmp_path, isolated_cache, raw):
    raw.write_mnist(tmp_path)
    cifar = raw.write_cifar(tmp_path)
    task = load_task("hybrid", tmp_path)
    for split in ("train", "test"):
        images, labels = cifar[split]
        for cifar_class, hybrid_label in ((0, 5), (4, 7), (7, 9)):
            expected = (images[labels == cifar_class] / 255.0) ** 2.2
            got = task.images(split)[task.labels(split) == hybrid_label].float().numpy()
            np.testing.assert_allclose(got, expected, atol=FP16_TOL, rtol=FP16_TOL)


def test_digits_follow_the_recolor_formula(tmp_path, isolated_cache, raw):
    """Each digit image must be c0 + v (c1 - c0) with v the bilinearly resized gray image,
    c0, c1 in [0,1]^3 and |c1 - c0| >= 0.3. c0, c1 are recovered by least squares."""
    mnist = raw.write_mnist(tmp_path)
    raw.write_cifar(tmp_path)
    task = load_task("mnist", tmp_path, seed=3)
    images, labels = mnist["train"]
    assert task.counts("train") == raw.mnist_train_counts
    assert torch.equal(task.train_labels, torch.from_numpy(labels.astype(np.int64)))
    for i in range(len(images)):
        v = pil_resize_28_to_32(images[i]).reshape(-1)
        design = np.stack([1 - v, v], axis=1)  # pixel = c0 (1 - v) + c1 v
        rgb = task.train_images[i].float().reshape(3, -1).numpy().T
        (c0, c1), residual, *_ = np.linalg.lstsq(design, rgb, rcond=None)
        np.testing.assert_allclose(design @ np.stack([c0, c1]), rgb, atol=FP16_TOL)
        assert np.all((c0 >= -FP16_TOL) & (c0 <= 1 + FP16_TOL) & (c1 >= -FP16_TOL) & (c1 <= 1 + FP16_TOL))
        assert np.linalg.norm(c1 - c0) >= 0.3 - 1e-2


def test_digit_colours_vary_with_seed_and_match_between_tasks(raw_dir):
    a = load_task("hybrid", raw_dir, seed=0)
    b = load_task("hybrid", raw_dir, seed=0, rebuild=True, cache=False)
    c = load_task("hybrid", raw_dir, seed=1)
    assert torch.equal(a.train_images, b.train_images)  # deterministic
    digits = a.train_labels < 5
    assert not torch.equal(a.train_images[digits], c.train_images[digits])
    assert torch.equal(a.train_images[~digits], c.train_images[~digits])  # CIFAR part has no randomness
    mnist = load_task("mnist", raw_dir, seed=0)
    assert torch.equal(mnist.train_images[mnist.train_labels < 5], a.train_images[digits])


@pytest.mark.parametrize(
    "name, class_names, groups",
    [
        ("cifar10", None, {c: c for c in range(10)}),
        ("cifar5", ("cat", "dog", "deer", "horse", "other"), {3: 0, 5: 1, 4: 2, 7: 3, 0: 4, 1: 4, 2: 4, 6: 4, 8: 4, 9: 4}),
        ("cifar2", ("horse", "other"), {7: 0, **{c: 1 for c in range(10) if c != 7}}),
    ],
)
def test_cifar_tasks_label_maps(tmp_path, isolated_cache, raw, name, class_names, groups):
    cifar = raw.write_cifar(tmp_path)
    task = load_task(name, tmp_path)
    if class_names:
        assert task.class_names == class_names
    assert all(task.flip_symmetric)
    for split in ("train", "test"):
        labels = cifar[split][1]
        assert torch.equal(task.labels(split), torch.tensor([groups[int(c)] for c in labels]))
        assert len(task.images(split)) == len(labels)  # every image is used


def test_cache_written_in_data_dir_and_reloaded_memory_mapped(raw_dir):
    first = load_task("hybrid", raw_dir)
    assert first.cache_path == raw_dir / "tasks" / "hybrid-v1-seed0.pt"
    assert find_cached_task("hybrid", raw_dir) == first.cache_path
    os.rename(raw_dir / "mnist", raw_dir / "mnist-gone")  # a cached task needs no raw files
    start = time.perf_counter()
    second = load_task("hybrid", raw_dir)
    assert time.perf_counter() - start < 1.0
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_labels, second.test_labels)
    assert second.class_names == first.class_names and second.flip_symmetric == first.flip_symmetric
    with pytest.raises(DataError, match="MNIST file"):
        load_task("hybrid", raw_dir, rebuild=True)


def test_read_only_data_dir_caches_in_user_cache(raw_dir, isolated_cache):
    mode = raw_dir.stat().st_mode
    os.chmod(raw_dir, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        task = load_task("cifar2", raw_dir)
        assert isolated_cache in task.cache_path.parents
        assert not (raw_dir / "tasks").exists()
        assert load_task("cifar2", raw_dir).cache_path == task.cache_path
    finally:
        os.chmod(raw_dir, mode)


def test_env_var_selects_data_dir(raw_dir, monkeypatch):
    monkeypatch.setenv("ROUTEGRAPH_DATA", str(raw_dir))
    assert load_task("cifar10").cache_path.parent == raw_dir / "tasks"


def test_tampered_cache_fails_verification(raw_dir):
    task = load_task("cifar10", raw_dir)
    counts = task.counts("train")
    payload = torch.load(task.cache_path, weights_only=True)
    payload["train_labels"] = payload["train_labels"].clone()
    payload["train_labels"][0] = (payload["train_labels"][0] + 1) % 10
    atomic_torch_save(payload, task.cache_path)  # a new file: `task` keeps its memory map
    with pytest.raises(DataError, match="images per class"):
        load_task("cifar10", raw_dir)
    assert load_task("cifar10", raw_dir, rebuild=True).counts("train") == counts


def test_truncated_cache_is_a_clear_error(raw_dir):
    path = load_task("cifar10", raw_dir).cache_path
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="unreadable task cache"):
        load_cached_task(path)


def test_cache_of_wrong_format_rejected(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"format": "something/9"}, path)
    with pytest.raises(DataError, match="cache format"):
        load_cached_task(path)


def test_save_then_load_round_trip(tmp_path):
    task = load_task("synthetic", n_train=30, n_test=20)
    save_task(task, tmp_path / "s.pt")
    loaded = load_cached_task(tmp_path / "s.pt")
    assert loaded.counts("train") == task.counts("train")
    torch.testing.assert_close(loaded.train_images.float(), task.train_images, atol=FP16_TOL, rtol=0)


def test_tar_archive_builds_the_same_task(tmp_path, isolated_cache, raw):
    raw.write_cifar(tmp_path / "a")
    raw.write_cifar(tmp_path / "b", archive=True)
    a = load_task("cifar5", tmp_path / "a")
    b = load_task("cifar5", tmp_path / "b")
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)


def test_errors_for_unknown_names_options_and_missing_files(tmp_path, isolated_cache):
    with pytest.raises(ConfigError, match="did you mean 'hybrid'"):
        load_task("hybird", tmp_path)
    with pytest.raises(ConfigError, match="unknown option"):
        load_task("hybrid", tmp_path, colour=True)
    with pytest.raises(DataError, match="CIFAR-10 not found"):
        load_task("hybrid", tmp_path)
    assert set(TASKS.names()) == {"hybrid", "cifar2", "cifar5", "cifar10", "mnist", "synthetic"}
