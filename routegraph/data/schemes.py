"""The ``scheme:PATH`` task names: a user's own data, read from a path instead of built by a recipe.

=========  ==========================================================
scheme     what PATH is
=========  ==========================================================
folder     a folder of images, ``train/<class>/*`` (:mod:`.folder`)
npz        a ``.npz`` of arrays, ``x_train`` ... (:mod:`.arrays`)
=========  ==========================================================

This is the one place such names are parsed; :func:`routegraph.data.load_task`
sends each scheme to its loader.

>>> scheme_path("npz:~/blobs.npz"), scheme_path("hybrid")
(('npz', PosixPath('~/blobs.npz')), None)
"""
from __future__ import annotations

from pathlib import Path

SCHEMES = {"folder": "a folder of your own images", "npz": "a .npz of your own arrays"}


def scheme_path(name: str) -> tuple[str, Path] | None:
    """``(scheme, PATH)`` of a ``scheme:PATH`` task name, or None for a built-in task's name.

    >>> scheme_path("folder:photos")
    ('folder', PosixPath('photos'))
    """
    scheme, sep, path = str(name).partition(":")
    if sep and scheme in SCHEMES:
        return scheme, Path(path)
    return None


def path_of(name: str, scheme: str) -> Path | None:
    """PATH of ``name`` if it is a ``scheme:PATH`` name of that scheme, else None.

    >>> path_of("npz:a.npz", "npz"), path_of("npz:a.npz", "folder")
    (PosixPath('a.npz'), None)
    """
    found = scheme_path(name)
    return found[1] if found is not None and found[0] == scheme else None


def schemes_hint() -> str:
    """The schemes as a hint after a list of known task names.

    >>> schemes_hint()
    'folder:PATH for a folder of your own images, npz:PATH for a .npz of your own arrays'
    """
    return ", ".join(f"{scheme}:PATH for {what}" for scheme, what in SCHEMES.items())
