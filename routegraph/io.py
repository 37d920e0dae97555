"""Atomic file writes and directory locks, shared by training, data caches and the sweep.

Atomic writes: write a temporary file beside the target, then rename. An
interrupted write therefore never leaves a half-written file at the target
path: readers see either the old file or the new one. The temporary file is
named ``.<target>~<host>~<pid>~<random>.tmp``; a process killed mid-write
(``kill -9``) leaves one behind, and the next write of the same target, or
:func:`remove_stale_temps` on its directory, deletes those whose writer is dead.

Locks (:class:`DirectoryLock`): a file created with ``O_EXCL`` holding the
owner's pid and host; a lock of a dead process on this host is taken over.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from .errors import LockHeld  # noqa: F401  (its home is errors.py; callers import it from here)

_TEMP = re.compile(r"^\.(?P<name>.+)~(?P<host>[^~/]+)~(?P<pid>\d+)~[^~/.]+\.tmp$")


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **open_kwargs) -> Iterator[BinaryIO]:
    """Open a temporary file that replaces ``path`` only if the block succeeds (``open_kwargs``:
    as for :func:`open`, e.g. ``newline=""`` for the csv module).

    >>> with atomic_open("/tmp/rg-example.txt", "w") as f:
    ...     _ = f.write("hello")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}~{_host()}~{os.getpid()}~", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; honour the umask like open() does
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:  # a failed write names no file: name the target
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder that becomes ``path`` (which must not exist) only if the block succeeds;
    on failure it is removed, so readers never see a half-written folder.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "cache"
    >>> with atomic_directory(target) as tmp:
    ...     _ = (tmp / "a.txt").write_text("x")
    >>> sorted(p.name for p in target.iterdir())
    ['a.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}~{_host()}~{os.getpid()}~", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temps(directory: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete temporary files (and folders) that :func:`atomic_open` (:func:`atomic_directory`) left in ``directory`` (for target ``name``,
    or any) when its writer died; files of live writers, other hosts and other names stay.
    Returns the paths removed.

    >>> remove_stale_temps("/nonexistent-dir")
    []
    """
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        match = _TEMP.match(entry)
        if match is None or (name is not None and match["name"] != name) or match["host"] != host:
            continue
        if pid_alive(match["pid"]):
            continue
        try:
            target = os.path.join(directory, entry)
            shutil.rmtree(target) if os.path.isdir(target) else os.unlink(target)
            removed.append(Path(directory) / entry)
        except OSError:
            pass  # gone already, or not ours to delete
    return removed


def _host() -> str:
    return socket.gethostname().replace("~", "-")


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


def read_json_lines(path: str | os.PathLike) -> tuple[list[tuple[str, dict]], str | None]:
    """The JSON objects of a ``.jsonl`` file, each with its line, and a note if a torn last line
    (a writer killed, or still writing) was left out. A bad line elsewhere is a
    :class:`~routegraph.errors.CheckpointError` naming ``file:line``."""
    from .errors import CheckpointError

    lines = [(n, line) for n, line in enumerate(Path(path).read_text().splitlines(), 1) if line.strip()]
    records = []
    for index, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if index == len(lines) - 1:
                return records, f"{path}:{number}: dropped a torn last line ({exc})"
            raise CheckpointError(f"{path}:{number}: damaged line ({exc}); remove or repair it") from None
        records.append((line, record))
    return records, None


# ----------------------------------------------------------------------------- locks
class DirectoryLock:
    """An exclusive lock file (``O_EXCL``) for the life of a ``with`` block.

    A lock left by a dead process on this host (its pid is not alive) is taken over;
    one held by a live process, or by a process on another host, raises :class:`LockHeld`
    (callers turn it into their own error message).

    >>> with DirectoryLock("/tmp/rg-doctest.lock"):
    ...     pass
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.held = False

    def __enter__(self) -> "DirectoryLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": _host(), "started": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder.get("host") == me["host"] and not pid_alive(holder.get("pid")):
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                if not holder:  # its owner is writing it this instant, or died doing so
                    if _age(self.path) > 10:
                        self.path.unlink(missing_ok=True)
                    else:
                        time.sleep(0.1)
                    continue
                raise LockHeld(self.path, holder) from None
            with os.fdopen(fd, "w") as handle:
                json.dump(me, handle)
            self.held = True
            return self
        raise LockHeld(self.path, self.holder())

    def holder(self) -> dict:
        """The owner recorded in the lock file (empty if none or unreadable)."""
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, json.JSONDecodeError):
            return {}

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def pid_alive(pid) -> bool:
    """Whether process ``pid`` exists on this host (a pid we may not signal counts as alive)."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError, OverflowError):
        return False
    except PermissionError:
        return True
    return True
