"""IDX / MNIST and CIFAR-10 readers on tiny files in the standard formats."""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from routegraph.data.cifar import gamma_decode, gamma_encode, load_cifar10
from routegraph.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, write_idx
from routegraph.data.mnist import load_mnist_split
from routegraph.errors import DataError


# ----------------------------------------------------------------------------- IDX / MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_both_splits_gzipped_or_not(tmp_path, raw, gz):
    written = raw.write_mnist(tmp_path, gz=gz)
    for split in ("train", "test"):
        images, labels = load_mnist_split(tmp_path, split)
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        np.testing.assert_array_equal(images, written[split][0])
        np.testing.assert_array_equal(labels, written[split][1])
    assert np.bincount(load_mnist_split(tmp_path, "train")[1]).tolist() == raw.mnist_train_counts


def test_mnist_found_in_torchvision_layout(tmp_path, raw):
    raw.write_mnist(tmp_path, subdir="MNIST/raw")
    assert len(load_mnist_split(tmp_path, "test")[0]) == sum(raw.mnist_test_counts)


def test_gzip_detected_by_content_not_name(tmp_path, raw):
    path = tmp_path / "labels.idx"  # gzip'd, but no .gz suffix
    path.write_bytes(gzip.compress(raw.idx_bytes(np.arange(5, dtype=np.uint8))))
    assert read_idx(path, LABELS_MAGIC).tolist() == [0, 1, 2, 3, 4]


def test_write_idx_round_trips(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x-idx3-ubyte.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "x-idx3-ubyte.gz", IMAGES_MAGIC, (28, 28)), array)


def _images_file(raw, n=3):
    payload = raw.idx_bytes(np.zeros((n, 28, 28), np.uint8))
    return payload


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: struct.pack(">I", 2049) + p[4:], "wrong magic number 2049"),
        (lambda p: p[:-10], "truncated"),
        (lambda p: p + b"\0" * 7, "trailing bytes"),
        (lambda p: p[:9], "truncated header"),
        (lambda p: p[:2], "too short"),
        (lambda p: p[:8] + struct.pack(">II", 27, 28) + p[16:], "expected (28, 28)"),
    ],
    ids=["wrong-magic", "truncated-data", "trailing", "truncated-header", "tiny", "wrong-shape"],
)
def test_bad_idx_files_raise_one_clear_error(tmp_path, raw, mutate, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(mutate(_images_file(raw)))
    with pytest.raises(DataError) as info:
        read_idx(path, IMAGES_MAGIC, (28, 28))
    text = str(info.value)
    assert str(path) in text and message in text
    assert "2051" in text or "bytes" in text  # says what was expected


def test_corrupt_and_truncated_gzip(tmp_path, raw):
    good = gzip.compress(_images_file(raw))
    for name, payload in (("cut.gz", good[: len(good) // 2]), ("bad.gz", good[:10] + b"\xff" * 30 + good[40:])):
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(DataError, match="gzip"):
            read_idx(path, IMAGES_MAGIC, (28, 28))


def test_missing_mnist_file_says_which_and_how_to_get_it(tmp_path, raw):
    raw.write_mnist(tmp_path)
    os.remove(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError) as info:
        load_mnist_split(tmp_path, "test")
    text = str(info.value)
    assert "t10k-labels-idx1-ubyte" in text and "routegraph data download mnist" in text


def test_mnist_label_and_image_counts_must_agree(tmp_path, raw):
    raw.write_mnist(tmp_path, gz=False)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(raw.idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(DataError, match="2 labels but"):
        load_mnist_split(tmp_path, "test")


def test_mnist_labels_must_be_digits(tmp_path, raw):
    written = raw.write_mnist(tmp_path, gz=False)
    labels = written["test"][1].copy()
    labels[0] = 11
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(raw.idx_bytes(labels))
    with pytest.raises(DataError, match="label 11"):
        load_mnist_split(tmp_path, "test")


# ----------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("archive", [False, True], ids=["folder", "tar.gz"])
def test_cifar_reads_folder_and_archive(tmp_path, raw, archive):
    written = raw.write_cifar(tmp_path, archive=archive)
    parts = load_cifar10(tmp_path)
    for split in ("train", "test"):
        np.testing.assert_array_equal(parts[split][0], written[split][0])
        np.testing.assert_array_equal(parts[split][1], written[split][1])
    assert np.bincount(parts["train"][1]).tolist() == raw.cifar_train_counts
    # Channel planes: the first 1024 values of a row are the red plane, row-major.
    first = written["train"][0][0]
    assert parts["train"][0][0][0, 0, :5].tolist() == first[0, 0, :5].tolist()


def test_cifar_str_keys_accepted(tmp_path, raw):
    raw.write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch = pickle.loads(path.read_bytes(), encoding="bytes")
    path.write_bytes(pickle.dumps({k.decode(): v for k, v in batch.items()}, protocol=4))
    assert len(load_cifar10(tmp_path)["test"][1]) == sum(raw.cifar_test_counts)


def test_cifar_missing_everything_or_one_batch(tmp_path, raw):
    with pytest.raises(DataError, match="routegraph data download cifar10"):
        load_cifar10(tmp_path)
    raw.write_cifar(tmp_path)
    os.remove(tmp_path / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize(
    "payload, message",
    [
        (lambda b: b[: len(b) // 2], "not a readable CIFAR-10 batch"),
        (lambda b: b"garbage" * 10, "not a readable CIFAR-10 batch"),
        (lambda b: pickle.dumps([1, 2, 3], protocol=2), "expected a pickled dict"),
        (lambda b: pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2), "(n, 3072)"),
        (lambda b: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2), "1 labels for 2 images"),
        (lambda b: pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, protocol=2), "outside 0..9"),
        (lambda b: pickle.dumps({b"labels": [0]}, protocol=2), "no 'data' entry"),
    ],
    ids=["truncated", "garbage", "not-dict", "wrong-shape", "count-mismatch", "bad-label", "no-data"],
)
def test_bad_cifar_batches(tmp_path, raw, payload, message):
    raw.write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(payload(path.read_bytes()))
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path)
    assert str(path) in str(info.value) and message in str(info.value)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


def test_cifar_pickle_cannot_run_code(tmp_path, raw):
    raw.write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="not allowed"):
        load_cifar10(tmp_path)


def test_truncated_cifar_archive(tmp_path, raw):
    raw.write_cifar(tmp_path, archive=True)
    path = tmp_path / "cifar-10-python.tar.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path)
    assert str(path) in str(info.value)


def test_archive_missing_a_member(tmp_path, raw):
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        payload = raw.cifar_batch_bytes(np.zeros((1, 3072), np.uint8), np.zeros(1, np.int64), b"x")
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(DataError, match="data_batch_1"):
        load_cifar10(tmp_path)


def test_gamma_decode_matches_formula():
    values = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    decoded = gamma_decode(values)
    expected = (np.arange(256) / 255.0) ** 2.2
    np.testing.assert_allclose(decoded.flatten().numpy(), expected, rtol=1e-5, atol=1e-7)
    assert decoded[0, 0, 0, 0] == 0 and decoded[0, 0, -1, -1] == 1
    np.testing.assert_allclose(gamma_encode(decoded).flatten().numpy() * 255, np.arange(256), atol=1e-3)
    assert torch.equal(gamma_decode(torch.from_numpy(values)), decoded)
