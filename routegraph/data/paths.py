"""Where data lives: the data directory, the raw files inside it, the task caches.

Data directory, in this order: the explicit ``data_dir`` argument (``--data-dir``),
then ``$ROUTEGRAPH_DATA``, then the per-user cache ``$XDG_CACHE_HOME/routegraph``
(``~/.cache/routegraph`` when ``XDG_CACHE_HOME`` is unset).

Task caches go to ``<data dir>/tasks/``. A data directory that cannot be written
(a shared read-only copy such as ``/work/shared/data``) gets its caches under
``<user cache>/tasks/<dir name>-<hash of its path>/`` instead, so two read-only
directories never share a cache.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

ENV_DATA_DIR = "ROUTEGRAPH_DATA"
CACHE_SUBDIR = "tasks"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/routegraph``, or ``~/.cache/routegraph``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).expanduser() / "routegraph"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir``, else ``$ROUTEGRAPH_DATA``, else the user cache.

    The directory need not exist yet.

    >>> resolve_data_dir("/tmp/some-data")
    PosixPath('/tmp/some-data')
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    from_env = os.environ.get(ENV_DATA_DIR, "")
    if from_env:
        return Path(from_env).expanduser()
    return user_cache_dir()


def data_dir_source(data_dir: str | os.PathLike | None = None) -> str:
    """Which rule chose the data directory (for ``routegraph data info``)."""
    if data_dir is not None and str(data_dir) != "":
        return "--data-dir"
    if os.environ.get(ENV_DATA_DIR, ""):
        return f"${ENV_DATA_DIR}"
    return "per-user cache (no --data-dir, no $ROUTEGRAPH_DATA)"


def is_writable_dir(path: Path) -> bool:
    """True if ``path`` is (or could be created as) a directory we may write into.

    A directory whose mode has no write bit at all counts as read-only even for
    root (who could write anyway): it was marked read-only on purpose.
    """
    probe = Path(path).absolute()
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    if not probe.is_dir():
        return False
    has_write_bit = probe.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    return bool(has_write_bit) and os.access(probe, os.W_OK | os.X_OK)


def cache_dirs(data_dir: Path) -> list[Path]:
    """Candidate task-cache directories for ``data_dir``, preferred (writable) first.

    Loading looks in all of them; saving uses the first writable one.
    """
    data_dir = Path(data_dir).absolute()
    inside = data_dir / CACHE_SUBDIR
    digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:8]
    fallback = user_cache_dir() / CACHE_SUBDIR / f"{data_dir.name or 'root'}-{digest}"
    if inside == user_cache_dir().absolute() / CACHE_SUBDIR:
        return [inside]
    if is_writable_dir(data_dir):
        return [inside, fallback]
    return [fallback, inside]


def writable_cache_dir(data_dir: Path) -> Path | None:
    """The directory new task caches are written to, or None if nothing is writable."""
    for candidate in cache_dirs(data_dir):
        if is_writable_dir(candidate):
            return candidate
    return None


def find_first(candidates: list[Path]) -> Path | None:
    """The first existing path among ``candidates``."""
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return None
