"""Fixtures that write tiny MNIST / CIFAR-10 files in the exact standard formats.

The writers here are independent of routegraph's readers: IDX via ``struct`` and
``gzip``, CIFAR batches as protocol-2 pickles of ``{b'data', b'labels', ...}``
like the Python 2 originals, and the official ``cifar-10-python.tar.gz`` layout.
"""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

# Images per class (distinct, so count checks can fail): digit d, CIFAR class c.
MNIST_TRAIN_COUNTS = [3, 4, 2, 3, 5, 2, 2, 3, 2, 2]
MNIST_TEST_COUNTS = [1, 2, 1, 2, 1, 1, 1, 1, 1, 1]
CIFAR_TRAIN_COUNTS = [3, 2, 2, 4, 3, 2, 3, 5, 2, 2]  # split over 5 batches
CIFAR_TEST_COUNTS = [1, 2, 1, 1, 2, 1, 1, 2, 1, 1]


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim  # 2051 for 3-d images, 2049 for 1-d labels
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def shuffled_labels(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    labels = np.repeat(np.arange(len(counts)), counts)
    return labels[rng.permutation(len(labels))].astype(np.uint8)


def mnist_arrays(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    splits = {}
    for split, counts in (("train", MNIST_TRAIN_COUNTS), ("t10k", MNIST_TEST_COUNTS)):
        labels = shuffled_labels(counts, rng)
        images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
        images[:, :4] = 0  # some exact black and white pixels too
        images[:, -2:] = 255
        splits[split] = (images, labels)
    return splits


def write_mnist(directory: Path, *, gz: bool = True, seed: int = 0, subdir: str = "mnist"):
    """Write the four IDX files into ``directory/subdir``; return the arrays by split."""
    rng = np.random.default_rng(seed)
    splits = mnist_arrays(rng)
    folder = Path(directory) / subdir
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in splits.items():
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            payload = idx_bytes(array)
            name = f"{split}-{kind}-ubyte"
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(payload))
            else:
                (folder / name).write_bytes(payload)
    return {"train": splits["train"], "test": splits["t10k"]}


def cifar_batch_bytes(data: np.ndarray, labels: np.ndarray, label: bytes) -> bytes:
    batch = {
        b"batch_label": label,
        b"labels": [int(x) for x in labels],
        b"data": np.ascontiguousarray(data, dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=2)


def cifar_arrays(rng: np.random.Generator) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Batches as lists of (data uint8 [n, 3072], labels) for train (5 batches) and test."""
    out = {}
    for split, counts, n_batches in (("train", CIFAR_TRAIN_COUNTS, 5), ("test", CIFAR_TEST_COUNTS, 1)):
        labels = shuffled_labels(counts, rng).astype(np.int64)
        data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        data[:, :10] = 0
        data[:, -10:] = 255
        out[split] = list(zip(np.array_split(data, n_batches), np.array_split(labels, n_batches)))
    return out


def cifar_files(batches) -> dict[str, bytes]:
    files = {}
    for i, (data, labels) in enumerate(batches["train"], start=1):
        files[f"data_batch_{i}"] = cifar_batch_bytes(data, labels, b"training batch %d of 5" % i)
    data, labels = batches["test"][0]
    files["test_batch"] = cifar_batch_bytes(data, labels, b"testing batch 1 of 1")
    return files


def write_cifar(directory: Path, *, archive: bool = False, seed: int = 1):
    """Write CIFAR-10 as ``cifar-10-batches-py/`` (or its ``.tar.gz``); return images/labels by split."""
    rng = np.random.default_rng(seed)
    batches = cifar_arrays(rng)
    files = cifar_files(batches)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if archive:
        with tarfile.open(directory / "cifar-10-python.tar.gz", "w:gz") as tar:
            for name, payload in files.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    else:
        folder = directory / "cifar-10-batches-py"
        folder.mkdir(exist_ok=True)
        for name, payload in files.items():
            (folder / name).write_bytes(payload)
    return {
        split: (np.concatenate([d for d, _ in parts]).reshape(-1, 3, 32, 32), np.concatenate([l for _, l in parts]))
        for split, parts in batches.items()
    }


@pytest.fixture
def raw():
    """Writers of tiny standard-format files and the class counts they use."""
    return SimpleNamespace(
        write_mnist=write_mnist,
        write_cifar=write_cifar,
        idx_bytes=idx_bytes,
        cifar_batch_bytes=cifar_batch_bytes,
        mnist_train_counts=MNIST_TRAIN_COUNTS,
        mnist_test_counts=MNIST_TEST_COUNTS,
        cifar_train_counts=CIFAR_TRAIN_COUNTS,
        cifar_test_counts=CIFAR_TEST_COUNTS,
    )


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point the per-user cache and $ROUTEGRAPH_DATA away from the real ones."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("ROUTEGRAPH_DATA", raising=False)
    monkeypatch.delenv("ROUTEGRAPH_MIRROR", raising=False)
    return cache / "routegraph"


@pytest.fixture
def raw_dir(tmp_path, isolated_cache):
    """A data directory with tiny MNIST (gzip'd) and CIFAR-10 (folder) files."""
    directory = tmp_path / "data"
    write_mnist(directory)
    write_cifar(directory)
    return directory
