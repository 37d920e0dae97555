"""``npz:PATH`` tasks and :meth:`Task.from_arrays`: the user's own arrays as a task.

A ``.npz`` (``numpy.savez``) holds::

    x_train, x_test     [N, *shape]: float or integer inputs; shape [F], [T, D] or [C, H, W]
    y_train, y_test     [N]: integer class labels 0..K-1
    class_names         optional [K] strings (else K = the largest label + 1, names "0", "1", ...)
    x_val, y_val        optional validation split (else carved from train: Task.with_validation)

It is read with ``numpy.load(allow_pickle=False)``: object arrays (pickles) are
refused. Members stored uncompressed (``numpy.savez``, not ``savez_compressed``)
are memory-mapped copy-on-write, so a file larger than memory trains, each batch
reading its own rows; compressed members, and inputs that are not float16/float32
(float64 and integers become float32), are read into memory. Inputs are used as they
are: no scaling, no colour conversion. Nothing is cached: the file is the cache.

Every check raises a one-line :class:`~routegraph.errors.DataError` that names the
file (or ``Task.from_arrays``) and the key.
"""
from __future__ import annotations

import struct
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from routegraph.errors import ConfigError, DataError

from .schemes import path_of
from .task import Task

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("class_names", "x_val", "y_val")
SPLITS = ("train", "test", "val")
OPTIONS = ("flip", "rebuild", "cache")  # rebuild/cache: accepted for 'data prepare --force'; nothing is cached
SHAPES = "[N, F], [N, T, D] or [N, C, H, W]"
CHUNK = 65536  # rows checked for finiteness at a time: a memory-mapped file is not read in whole


def npz_path(name: str) -> Path | None:
    """The file of an ``npz:PATH`` task name, or None for any other task.

    >>> npz_path("npz:~/blobs.npz"), npz_path("synthetic")
    (PosixPath('~/blobs.npz'), None)
    """
    return path_of(name, "npz")


def load_npz_task(name: str, data_dir=None, *, seed: int = 0, **options) -> Task:
    """The task of ``name`` (``npz:PATH``), read and checked (see the module doc). Options:
    ``flip`` (classes whose inputs training may flip horizontally: names, comma-separated,
    or ``all``; images only; default none). ``data_dir`` and ``seed`` are unused.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "blobs.npz"
    >>> np.savez(path, x_train=np.zeros((6, 12), np.float32), y_train=[0, 1, 2] * 2,
    ...          x_test=np.ones((3, 12)), y_test=[0, 1, 2], class_names=["a", "b", "c"])
    >>> task = load_npz_task(f"npz:{path}")
    >>> task.class_names, tuple(task.train_images.shape), task.test_images.dtype
    (('a', 'b', 'c'), (6, 12), torch.float32)
    """
    from .folder import flip_flags

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for an npz task (known: {', '.join(OPTIONS)})")
    path = npz_path(name).expanduser()
    arrays = read_npz(path)
    task = task_from_arrays(arrays, name=name, where=str(path), cache_path=path)
    flips = flip_flags(task.class_names, options.get("flip"))
    if any(flips) and len(task.train_images.shape) != 4:
        raise ConfigError(f"flip={options['flip']!r}: flips apply to images [C, H, W]; the inputs of {path} are "
                          f"{list(task.train_images.shape[1:])}")
    return replace(task, flip_symmetric=flips)


def npz_class_names(path: Path) -> tuple[str, ...]:
    """The class names of the .npz at ``path`` (its ``class_names``, else from ``y_train``), without
    checking its inputs: what a sweep needs to know before it trains.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "d.npz"
    >>> np.savez(path, x_train=np.zeros((2, 3)), y_train=[0, 4], x_test=np.zeros((1, 3)), y_test=[1])
    >>> npz_class_names(path)
    ('0', '1', '2', '3', '4')
    """
    arrays = read_npz(path)
    return _class_names(arrays.get("class_names"), {"train": _labels(arrays["y_train"], str(path), "y_train")}, str(path))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``path`` by key (uncompressed numeric members memory-mapped); a DataError
    naming the file for a missing file, a file that is no .npz, a missing key or an object array."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a .npz with {', '.join(REQUIRED)} (numpy.savez)")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # OSError/ValueError/BadZipFile for garbage or a pickle
        raise DataError(f"{path}: not a .npz archive ({type(exc).__name__}: {exc}); save the arrays with "
                        "numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single .npy array, not a .npz archive; save the arrays with "
                        "numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
    with archive:
        keys = set(archive.files)
        missing = [k for k in REQUIRED if k not in keys]
        if missing:
            raise DataError(f"{path}: no key {missing[0]!r} (keys: {', '.join(sorted(keys)) or 'none'}); "
                            f"a .npz task needs {', '.join(REQUIRED)}")
        arrays = {}
        for key in REQUIRED + OPTIONAL:
            if key in keys:
                arrays[key] = _member(path, archive, key)
    return arrays


def _member(path: Path, archive, key: str) -> np.ndarray:
    """One member: memory-mapped if stored uncompressed, else read (``allow_pickle=False``)."""
    try:
        mapped = _mapped(path, archive.zip.getinfo(f"{key}.npy"))
        return mapped if mapped is not None else archive[key]
    except ValueError as exc:  # numpy: object arrays need pickles
        raise DataError(f"{path}: {key}: {exc}; save numbers (and class_names as strings), not objects") from None
    except Exception as exc:  # a damaged member
        raise DataError(f"{path}: {key}: unreadable ({type(exc).__name__}: {exc})") from None


def _mapped(path: Path, info: zipfile.ZipInfo) -> np.ndarray | None:
    """A copy-on-write memory map of an uncompressed member's array data, or None where that cannot be
    (compressed or encrypted, empty, or not a numeric array)."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return None
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)  # the local file header: its name and extra field lengths differ from the central one's
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            return None
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        handle.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        offset = handle.tell()
    if dtype.hasobject:
        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    if dtype.kind not in "fiub" or not np.prod(shape, dtype=np.int64):
        return None
    return np.memmap(path, dtype=dtype, mode="c", shape=shape, offset=offset, order="F" if fortran else "C")


def task_from_arrays(arrays: dict, *, name: str = "arrays", where: str = "Task.from_arrays",
                     cache_path: Path | None = None) -> Task:
    """A :class:`Task` from ``arrays`` (numpy or torch; keys as in a .npz), checked; errors start with
    ``where: key:``. Inputs stay float16/float32 (and memory-mapped where they are); other numbers
    become float32; labels become int64.

    >>> task = task_from_arrays({"x_train": np.zeros((4, 2, 5, 7)), "y_train": [0, 1, 0, 1],
    ...                          "x_test": np.zeros((2, 2, 5, 7)), "y_test": [1, 0]})
    >>> task.class_names, tuple(task.train_images.shape[1:])
    (('0', '1'), (2, 5, 7))
    >>> task_from_arrays({"x_train": np.zeros((4, 3)), "y_train": [0, 1, 0, 1],
    ...                   "x_test": np.zeros((2, 4)), "y_test": [1, 0]})
    Traceback (most recent call last):
    ...
    routegraph.errors.DataError: Task.from_arrays: x_test: examples of shape [4], but x_train's are [3]; every split needs the same shape
    """
    arrays = {k: v for k, v in arrays.items() if v is not None}
    if ("x_val" in arrays) != ("y_val" in arrays):
        given, lacking = ("x_val", "y_val") if "x_val" in arrays else ("y_val", "x_val")
        raise DataError(f"{where}: {given} without {lacking}; give both, or neither to carve validation from train")
    splits = [s for s in SPLITS if f"x_{s}" in arrays]
    inputs = {s: _inputs(arrays[f"x_{s}"], where, f"x_{s}") for s in splits}
    labels = {s: _labels(arrays[f"y_{s}"], where, f"y_{s}") for s in splits}
    shape = list(inputs["train"].shape[1:])
    if not len(inputs["train"]):
        raise DataError(f"{where}: x_train: no examples")
    for s in splits:
        if list(inputs[s].shape[1:]) != shape:
            raise DataError(f"{where}: x_{s}: examples of shape {list(inputs[s].shape[1:])}, but x_train's are "
                            f"{shape}; every split needs the same shape")
        if len(labels[s]) != len(inputs[s]):
            raise DataError(f"{where}: y_{s}: {len(labels[s])} labels for the {len(inputs[s])} rows of x_{s}; "
                            "every input needs one label")
        _check_finite(inputs[s], where, f"x_{s}")
    class_names = _class_names(arrays.get("class_names"), labels, where)
    for s in splits:
        y = labels[s]
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(class_names)):
            bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
            source = "from class_names" if "class_names" in arrays else "from y_train"
            raise DataError(f"{where}: y_{s}: label {bad} outside 0..{len(class_names) - 1} "
                            f"({len(class_names)} classes, {source})")
    val = {"val_images": inputs["val"], "val_labels": labels["val"]} if "val" in splits else {}
    task = Task(name=name, class_names=class_names, flip_symmetric=(False,) * len(class_names),
                train_images=inputs["train"], train_labels=labels["train"],
                test_images=inputs["test"], test_labels=labels["test"],
                recipe={"source": where, "shape": "x".join(map(str, shape))}, cache_path=cache_path,
                origin=where, **val)
    task.verify(check_values=False)  # values were checked above, with the key named
    return task


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value if isinstance(value, np.ndarray) else np.asarray(value)


def _inputs(value, where: str, key: str) -> torch.Tensor:
    array = _numpy(value)
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise DataError(f"{where}: {key}: dtype {array.dtype}; expected float or integer inputs")
    if not 2 <= array.ndim <= 4:
        raise DataError(f"{where}: {key}: shape {list(array.shape)}; expected {SHAPES}")
    if array.dtype not in (np.float16, np.float32):
        array = array.astype(np.float32)
    return torch.from_numpy(array)


def _labels(value, where: str, key: str) -> torch.Tensor:
    array = _numpy(value)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{where}: {key}: dtype {array.dtype}; expected integer class labels 0..K-1")
    if array.ndim != 1:
        raise DataError(f"{where}: {key}: shape {list(array.shape)}; expected [N] labels")
    return torch.from_numpy(np.array(array, dtype=np.int64))


def _check_finite(inputs: torch.Tensor, where: str, key: str) -> None:
    if not inputs.is_floating_point():
        return
    for start in range(0, len(inputs), CHUNK):
        bad = ~torch.isfinite(inputs[start:start + CHUNK].reshape(min(CHUNK, len(inputs) - start), -1)).all(dim=1)
        if bad.any():
            row = start + int(bad.nonzero()[0])
            raise DataError(f"{where}: {key}: row {row} holds NaN or inf; every input must be finite")


def _class_names(value, labels: dict, where: str) -> tuple[str, ...]:
    if value is None:
        return tuple(str(c) for c in range(max(int(labels["train"].max()) + 1, 1)))
    array = _numpy(value)
    if array.ndim != 1 or not len(array) or array.dtype.kind not in "US":
        raise DataError(f"{where}: class_names: {array.dtype} of shape {list(array.shape)}; expected [K] strings "
                        "(K >= 1), e.g. numpy.array(['cat', 'dog'])")
    names = tuple(str(n.decode() if isinstance(n, bytes) else n) for n in array.tolist())
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{where}: class_names: {repeated[0]!r} appears more than once; every class needs its own name")
    return names
