"""Atomic file writes: write a temporary file beside the target, then rename.

An interrupted write therefore never leaves a half-written file at the target
path: readers see either the old file or the new one.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[BinaryIO]:
    """Open a temporary file that replaces ``path`` only if the block succeeds.

    >>> with atomic_open("/tmp/rg-example.txt", "w") as f:
    ...     _ = f.write("hello")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; honour the umask like open() does
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """``path`` if a file (or, with ``folder``, a folder) can be written there; else a ConfigError.

    Nothing is created: commands call this on their output options before the
    work, so a bad ``--out`` fails in a second rather than after a long run.
    A missing path is writable when its nearest existing parent is a writable folder."""
    from .errors import ConfigError

    path = Path(path)
    what = "folder" if folder else "file"
    if path.exists():
        if path.is_dir() != folder:
            raise ConfigError(f"{path}: cannot write the {what} here: it is {'a file' if folder else 'a folder'}")
        need = [path] if folder else [path, path.parent]  # a file is replaced through its folder
    else:
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ConfigError(f"{path}: cannot write the {what} here: {ancestor} is a file, not a folder")
        need = [ancestor]
    for place in need:
        if not os.access(place, os.W_OK | (os.X_OK if place.is_dir() else 0)):
            raise ConfigError(f"{path}: cannot write the {what} here: {place} is not writable")
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file and a rename."""
    import torch

    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)
