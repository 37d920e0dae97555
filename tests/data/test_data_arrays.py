"""``npz:PATH`` tasks and ``Task.from_arrays``: every check names the file and the key; memory-mapping;
the validation split given or carved; inputs of every rank through the training stream."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from npz_arrays import CLASSES, arrays, blobs, write_npz

from routegraph.data import BatchStream, Task, load_task
from routegraph.data.arrays import read_npz
from routegraph.data.schemes import SCHEMES
from routegraph.data.tasks import SCHEME_LOADERS
from routegraph.errors import ConfigError, DataError


def _x(n, shape=(12,)):
    return np.zeros((n, *shape), np.float32)


# (name, keys to change (None: remove), the key the message must name, a phrase it must hold)
BAD = [
    ("missing key", {"x_test": None}, "'x_test'", "no key"),
    ("x_val without y_val", {"x_val": _x(3)}, "x_val", "without y_val"),
    ("y_val without x_val", {"y_val": np.zeros(3, np.int64)}, "y_val", "without x_val"),
    ("x strings", {"x_train": np.array([["a"] * 12] * 120)}, "x_train", "dtype <U1"),
    ("x bool", {"x_test": np.zeros((30, 12), bool)}, "x_test", "dtype bool"),
    ("x objects", {"x_train": np.array([{}] * 120, dtype=object)}, "x_train", "allow_pickle"),
    ("y float", {"y_train": np.zeros(120)}, "y_train", "dtype float64"),
    ("y 2-D", {"y_test": np.zeros((30, 1), np.int64)}, "y_test", "shape [30, 1]"),
    ("x rank 1", {"x_train": np.zeros(120, np.float32)}, "x_train", "shape [120]"),
    ("x rank 5", {"x_test": np.zeros((30, 1, 1, 1, 12), np.float32)}, "x_test", "shape [30, 1, 1, 1, 12]"),
    ("lengths differ", {"y_train": np.zeros(119, np.int64)}, "y_train", "119 labels for the 120 rows"),
    ("shapes differ", {"x_test": _x(30, (13,))}, "x_test", "[13], but x_train's are [12]"),
    ("val shape differs", {"x_val": _x(3, (2, 6)), "y_val": np.zeros(3, np.int64)}, "x_val", "[2, 6]"),
    ("empty train", {"x_train": _x(0), "y_train": np.zeros(0, np.int64)}, "x_train", "no examples"),
    ("label above class_names", {"y_test": np.full(30, 3)}, "y_test", "label 3 outside 0..2 (3 classes, from class_names)"),
    ("label above train's", {"class_names": None, "y_test": np.full(30, 3)}, "y_test", "outside 0..2 (3 classes, from y_train)"),
    ("negative label", {"y_train": np.full(120, -1)}, "y_train", "label -1"),
    ("class_names numbers", {"class_names": np.arange(3)}, "class_names", "expected [K] strings"),
    ("class_names repeated", {"class_names": np.array(["a", "b", "a"])}, "class_names", "'a' appears more than once"),
]


@pytest.mark.parametrize("changes, key, phrase", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_every_check_is_one_line_naming_the_file_and_key(tmp_path, changes, key, phrase):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays(**changes))
    with pytest.raises(DataError) as error:
        load_task(f"npz:{path}")
    message = str(error.value)
    assert message.startswith(f"{path}: ") and key in message and phrase in message and "\n" not in message


@pytest.mark.parametrize("where, row", [("x_train", 17), ("x_test", 3), ("x_val", 1)])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_input_names_the_file_key_and_row(tmp_path, where, row, bad):
    keys = arrays(x_val=_x(4), y_val=np.zeros(4, np.int64))
    keys[where][row, 5] = bad
    np.savez(tmp_path / "data.npz", **keys)
    with pytest.raises(DataError, match=rf"^{tmp_path / 'data.npz'}: {where}: row {row} holds NaN or inf"):
        load_task(f"npz:{tmp_path / 'data.npz'}")


def test_files_that_are_not_task_archives_name_the_file(tmp_path):
    with pytest.raises(DataError, match=rf"^{tmp_path / 'none.npz'}: no such file"):
        load_task(f"npz:{tmp_path / 'none.npz'}")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match=rf"^{tmp_path / 'junk.npz'}: not a .npz archive"):
        load_task(f"npz:{tmp_path / 'junk.npz'}")
    with open(tmp_path / "one.npz", "wb") as handle:  # a .npy under a .npz name
        np.save(handle, _x(3))
    with pytest.raises(DataError, match=rf"^{tmp_path / 'one.npz'}: a single .npy array"):
        load_task(f"npz:{tmp_path / 'one.npz'}")


def test_the_input_shape_is_checked_against_the_spec_naming_file_and_key(tmp_path):
    task = load_task(f"npz:{write_npz(tmp_path / 'd.npz')}")
    task.check_input_shape((12,))
    with pytest.raises(DataError, match=rf"^{tmp_path / 'd.npz'}: x_train: examples of shape \[12\], but the spec's "
                                        r"input is \[3, 2, 2\]; write the spec's input as \[12\]$"):
        task.check_input_shape((3, 2, 2), "the spec's input")


def test_unknown_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown option.*size"):
        load_task(f"npz:{write_npz(tmp_path / 'd.npz')}", size="8x8")


def test_the_task_holds_the_file_s_arrays_labels_and_names(tmp_path):
    path = write_npz(tmp_path / "d.npz")
    task = load_task(f"npz:{path}")
    expected = arrays()
    assert task.class_names == CLASSES and task.flip_symmetric == (False,) * 3
    assert task.name == f"npz:{path}" and task.cache_path == path
    for split in ("train", "test"):
        assert np.array_equal(task.images(split).numpy(), expected[f"x_{split}"])
        assert task.labels(split).dtype == torch.int64
        assert task.labels(split).tolist() == expected[f"y_{split}"].tolist()


def test_uncompressed_members_are_memory_mapped_copy_on_write(tmp_path):
    path = write_npz(tmp_path / "d.npz")
    assert all(isinstance(read_npz(path)[k], np.memmap) for k in ("x_train", "x_test", "y_train"))
    assert not any(isinstance(v, np.memmap) for v in read_npz(write_npz(tmp_path / "z.npz", compressed=True)).values())
    task = load_task(f"npz:{path}")
    task.train_images[0] += 100.0  # a training step may write into a batch's rows: never into the file
    assert np.array_equal(np.load(path)["x_train"], arrays()["x_train"])


def test_compressed_files_read_the_same_arrays(tmp_path):
    plain = load_task(f"npz:{write_npz(tmp_path / 'd.npz')}")
    packed = load_task(f"npz:{write_npz(tmp_path / 'z.npz', compressed=True)}")
    assert torch.equal(plain.train_images, packed.train_images) and torch.equal(plain.test_labels, packed.test_labels)


@pytest.mark.parametrize("dtype, stored", [(np.float64, torch.float32), (np.int32, torch.float32), (np.uint8, torch.float32),
                                           (np.float16, torch.float16), (np.float32, torch.float32)])
def test_input_dtypes_become_float_values_unchanged(tmp_path, dtype, stored):
    x = (np.arange(120 * 12) % 7).reshape(120, 12).astype(dtype)
    np.savez(tmp_path / "d.npz", **arrays(x_train=x, x_test=x[:30].astype(np.float32)))
    task = load_task(f"npz:{tmp_path / 'd.npz'}")
    assert task.train_images.dtype == stored
    assert np.array_equal(task.train_images.double().numpy(), x.astype(np.float64))


def test_without_class_names_they_are_the_labels(tmp_path):
    task = load_task(f"npz:{write_npz(tmp_path / 'd.npz', class_names=None)}")
    assert task.class_names == ("0", "1", "2")


def test_flip_names_classes_of_images_only(tmp_path):
    images = load_task(f"npz:{write_npz(tmp_path / 'i.npz', shape=(2, 3, 2))}", flip="bee")
    assert images.flip_symmetric == (False, True, False)
    with pytest.raises(ConfigError, match="flips apply to images"):
        load_task(f"npz:{write_npz(tmp_path / 'f.npz')}", flip="all")


def test_every_scheme_has_a_loader():
    assert set(SCHEME_LOADERS) == set(SCHEMES)


# ----------------------------------------------------------------------------- Task.from_arrays


def test_from_arrays_takes_numpy_and_torch_alike():
    keys = arrays()
    from_numpy = Task.from_arrays(keys["x_train"], keys["y_train"], keys["x_test"], keys["y_test"], class_names=CLASSES)
    from_torch = Task.from_arrays(*(torch.from_numpy(keys[k]) for k in ("x_train", "y_train", "x_test", "y_test")),
                                  class_names=np.array(CLASSES), name="mine")
    assert from_torch.name == "mine" and from_numpy.name == "arrays" and from_torch.class_names == CLASSES
    for split in ("train", "test"):
        assert torch.equal(from_numpy.images(split), from_torch.images(split))
        assert torch.equal(from_numpy.labels(split), from_torch.labels(split))


def test_from_arrays_checks_like_a_file():
    x, y = blobs(4)
    with pytest.raises(DataError, match=r"^Task.from_arrays: y_test: label 5 outside 0..2"):
        Task.from_arrays(x, y, x, np.full(len(y), 5))
    with pytest.raises(DataError, match=r"^Task.from_arrays: x_train: dtype bool"):
        Task.from_arrays(x > 0, y, x, y)
    with pytest.raises(DataError, match=r"^Task.from_arrays: x_val without y_val"):
        Task.from_arrays(x, y, x, y, x_val=x)


# ----------------------------------------------------------------------------- the validation split


def test_a_given_validation_split_is_used_as_it_is(tmp_path):
    x_val, y_val = blobs(2, seed=7)
    task = load_task(f"npz:{write_npz(tmp_path / 'd.npz', x_val=x_val, y_val=y_val)}").with_validation(0.25)
    assert np.array_equal(task.images("val").numpy(), x_val) and task.labels("val").tolist() == y_val.tolist()
    assert len(task.rows("train")) == 120  # nothing carved from train
    assert task.validation_record() == {"source": "val", "n": 6}


def test_a_carved_validation_split_is_stratified_rows_of_train_never_trained_on(tmp_path):
    task = load_task(f"npz:{write_npz(tmp_path / 'd.npz')}").with_validation(0.25)
    val_rows, train_rows = task.rows("val"), task.rows("train")
    assert task.counts("val") == [10, 10, 10] and len(train_rows) == 90
    assert not set(val_rows.tolist()) & set(train_rows.tolist())
    assert torch.equal(task.images("val"), task.train_images[val_rows])
    assert task.validation_record() == {"source": "train", "seed": 0, "n": 30}
    stream = BatchStream(task, batch_size=30, seed=3)
    visited = torch.cat([stream.global_indices(t) for t in range(3)])  # one whole epoch
    assert sorted(visited.tolist()) == sorted(train_rows.tolist())
    # the test split is its own arrays: no validation example is one of them
    test = {tuple(row) for row in task.test_images.numpy().tolist()}
    assert not any(tuple(row) in test for row in task.images("val").numpy().tolist())
    # the same rows in every load (a fixed seed, not the run's)
    again = load_task(f"npz:{tmp_path / 'd.npz'}").with_validation(0.25)
    assert torch.equal(again.rows("val"), val_rows)


# ----------------------------------------------------------------------------- every rank through the stream


@pytest.mark.parametrize("shape", [(12,), (5, 4)], ids=["features", "sequences"])
def test_non_image_inputs_stream_unaugmented(tmp_path, shape):
    task = load_task(f"npz:{write_npz(tmp_path / 'd.npz', shape=shape)}")
    stream = BatchStream(task, batch_size=8, seed=1, augment=True)
    assert stream.augmenter is None
    inputs, labels = stream.batch(2)
    rows = stream.global_indices(2)
    assert inputs.shape == (8, *shape) and inputs.dtype == torch.float32
    assert torch.equal(inputs, task.train_images[rows]) and torch.equal(labels, task.train_labels[rows])


def test_images_of_any_channel_count_stream_augmented(tmp_path):
    task = load_task(f"npz:{write_npz(tmp_path / 'd.npz', shape=(2, 20, 28))}")
    augmented = BatchStream(task, batch_size=8, seed=1, augment=True)
    plain = BatchStream(task, batch_size=8, seed=1, augment=False)
    assert augmented.augmenter is not None
    (a, labels), (b, same) = augmented.batch(0), plain.batch(0)
    assert a.shape == b.shape == (8, 2, 20, 28) and torch.equal(labels, same)
    assert not torch.equal(a, b)  # shifted: shifts of ±2..3 px at this size are drawn for all 8
