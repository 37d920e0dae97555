"""Reading IDX files (the MNIST distribution format), gzip'd or not.

An IDX file is a big-endian header followed by raw values::

    bytes 0-1   zero
    byte  2     value type (0x08 = unsigned byte)
    byte  3     number of dimensions d
    4*d bytes   the dimensions, big-endian uint32
    then        prod(dims) values

MNIST images are magic 2051 (``0x00000803``: ubyte, 3 dims, n x 28 x 28) and labels
magic 2049 (``0x00000801``: ubyte, 1 dim, n). Every problem with a file is raised
as one :class:`~routegraph.errors.DataError` naming the file and what was expected.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from routegraph.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes_maybe_gzip(path: Path) -> bytes:
    """The file's content, decompressed if it is gzip (detected by content, not name)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupt or truncated gzip file ({exc}); "
            "expected a complete gzip'd IDX file - download it again"
        ) from None


def read_idx(path: str | Path, magic: int, item_shape: tuple[int, ...] = ()) -> np.ndarray:
    """Read an unsigned-byte IDX file with the given ``magic`` and per-item shape.

    Returns a ``uint8`` array of shape ``(n, *item_shape)``.

    >>> images = read_idx("train-images-idx3-ubyte.gz", IMAGES_MAGIC, (28, 28))  # doctest: +SKIP
    """
    path = Path(path)
    data = read_bytes_maybe_gzip(path)
    ndim = 1 + len(item_shape)
    header_size = 4 + 4 * ndim
    what = f"IDX magic {magic} (ubyte, {ndim} dims: n x {' x '.join(map(str, item_shape)) or '1'})"
    if len(data) < 4:
        raise DataError(f"{path}: file is {len(data)} bytes, too short for an IDX header; expected {what}")
    (found_magic,) = struct.unpack(">I", data[:4])
    if found_magic != magic:
        raise DataError(f"{path}: wrong magic number {found_magic} (0x{found_magic:08x}); expected {what}")
    if len(data) < header_size:
        raise DataError(f"{path}: truncated header ({len(data)} bytes); expected {header_size} for {what}")
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    if tuple(dims[1:]) != tuple(item_shape):
        raise DataError(
            f"{path}: items have shape {tuple(dims[1:])}; expected {tuple(item_shape)} ({what})"
        )
    count = dims[0]
    expected_bytes = int(np.prod(dims, dtype=np.int64))
    found_bytes = len(data) - header_size
    if found_bytes != expected_bytes:
        state = "truncated" if found_bytes < expected_bytes else "has trailing bytes"
        raise DataError(
            f"{path}: file {state}: header says {count} items of shape {tuple(item_shape)} "
            f"= {expected_bytes} bytes of data, found {found_bytes}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(count, *item_shape)


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write a ``uint8`` array as an IDX file (gzip'd if ``compress`` or the name ends in ``.gz``).

    Used to export data in the standard format; the loaders' tests write their
    files independently with ``struct``.
    """
    from routegraph.io import atomic_open

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path = Path(path)
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload)
    with atomic_open(path, "wb") as handle:
        handle.write(payload)
