"""CIFAR-10: reading the python distribution (folder or ``.tar.gz``) and gamma decoding.

Accepted layouts inside a data directory, first match wins:

- ``cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``
- ``cifar-10-python.tar.gz`` (the official archive, read in place without extracting)

Each batch is a pickled dict with ``data`` (``uint8 [n, 3072]``: the R plane, then
G, then B, each 32x32 row-major) and ``labels`` (n ints in 0..9). Batches are
unpickled with a restricted unpickler that only builds numpy arrays, so a
tampered file cannot run code. Local copies are read as they are: no checksum
is demanded (the copy in /work/shared/data is a re-encoded one, see its README).
"""
from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from routegraph.errors import DataError

CIFAR_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
GAMMA = 2.2
HOW_TO_GET_CIFAR = (
    "get it with 'routegraph data download cifar10 --data-dir DIR', or put the official "
    f"{CIFAR_ARCHIVE} or its extracted {CIFAR_DIR}/ folder into DIR"
)

# Callables a CIFAR batch pickle may reference: numpy array reconstruction only.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def find_cifar(data_dir: Path) -> Path | None:
    """The CIFAR-10 folder or archive inside ``data_dir``, or None."""
    for candidate in (Path(data_dir) / CIFAR_DIR, Path(data_dir) / CIFAR_ARCHIVE):
        if candidate.exists():
            return candidate
    return None


def parse_batch(stream: BinaryIO, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Unpickle one batch; return ``uint8 [n, 3, 32, 32]`` images and ``int64 [n]`` labels."""
    try:
        batch = _ArrayOnlyUnpickler(stream, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, ImportError, zlib.error, OSError) as exc:
        raise DataError(
            f"{where}: not a readable CIFAR-10 batch ({type(exc).__name__}: {exc}); expected a "
            f"pickled dict with 'data' and 'labels' - the file is corrupt or truncated; {HOW_TO_GET_CIFAR}"
        ) from None
    if not isinstance(batch, dict):
        raise DataError(f"{where}: expected a pickled dict, found {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise DataError(f"{where}: no '{key}' entry; expected a CIFAR-10 batch with 'data' and 'labels'")
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", "?")
        dtype = getattr(data, "dtype", type(data).__name__)
        raise DataError(f"{where}: 'data' is {dtype} with shape {shape}; expected uint8 with shape (n, 3072)")
    if labels.shape != (len(data),):
        raise DataError(f"{where}: {labels.size} labels for {len(data)} images; expected one label per image")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels outside 0..9 (found {labels.min()}..{labels.max()})")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    parts = {}
    for split, names in CIFAR_BATCHES.items():
        for name in names:
            path = folder / name
            if not path.is_file():
                raise DataError(f"CIFAR-10 batch {path} not found; expected {', '.join(names)} in {folder}; {HOW_TO_GET_CIFAR}")
            with open(path, "rb") as handle:
                parts[name] = parse_batch(handle, str(path))
    return parts


def _read_archive(archive: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    wanted = {f"{CIFAR_DIR}/{name}": name for names in CIFAR_BATCHES.values() for name in names}
    parts = {}
    try:
        # Stream mode reads the gzip once, front to back.
        with tarfile.open(archive, mode="r|gz") as tar:
            for member in tar:
                name = wanted.get(member.name.lstrip("./"))
                if name is None or not member.isfile():
                    continue
                payload = tar.extractfile(member).read()
                parts[name] = parse_batch(io.BytesIO(payload), f"{archive}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(
            f"{archive}: corrupt or truncated archive ({type(exc).__name__}: {exc}); expected the "
            f"gzip'd tar of {CIFAR_DIR}/ - download it again"
        ) from None
    missing = [name for name in wanted.values() if name not in parts]
    if missing:
        raise DataError(f"{archive}: archive lacks {CIFAR_DIR}/{', '.join(missing)}; {HOW_TO_GET_CIFAR}")
    return parts


def load_cifar10(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits: ``{'train': (uint8 [n,3,32,32], int64 [n]), 'test': (...)}``."""
    source = find_cifar(data_dir)
    if source is None:
        raise DataError(
            f"CIFAR-10 not found: neither {Path(data_dir) / CIFAR_DIR}/ nor {Path(data_dir) / CIFAR_ARCHIVE} "
            f"exists; {HOW_TO_GET_CIFAR}"
        )
    parts = _read_folder(source) if source.is_dir() else _read_archive(source)
    splits = {}
    for split, names in CIFAR_BATCHES.items():
        images = np.concatenate([parts[name][0] for name in names])
        labels = np.concatenate([parts[name][1] for name in names])
        splits[split] = (images, labels)
    return splits


def gamma_decode(images: np.ndarray | torch.Tensor, gamma: float = GAMMA) -> torch.Tensor:
    """``uint8`` sRGB-ish values -> linear ``float32``: ``(value / 255) ** gamma``."""
    if isinstance(images, torch.Tensor):
        values = images.float().div(255.0)
    else:
        values = torch.from_numpy(np.asarray(images, dtype=np.float32)).div_(255.0)
    return values.pow_(gamma)


def gamma_encode(linear: torch.Tensor, gamma: float = GAMMA) -> torch.Tensor:
    """Inverse of :func:`gamma_decode` up to quantisation, for display: ``x ** (1 / gamma)``."""
    return linear.float().clamp(0, 1).pow(1.0 / gamma)
