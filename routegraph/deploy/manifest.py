"""The exported folder's manifest: ``manifest.json``, its format tag and a checksum of every file.

Torch-free and numpy-free: written by :mod:`routegraph.export`, read by :mod:`routegraph.deploy`.
The manifest is written last, so a folder without one is not an export; every file it lists is
checked against its SHA-256 on load, so an altered or truncated graph is refused by name.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "a.onnx").write_bytes(b"graph")
>>> write_manifest(folder, {"kind": "regions", "files": ["a.onnx"]})
>>> read_manifest(folder)["kind"]
'regions'
>>> _ = (folder / "a.onnx").write_bytes(b"other")
>>> read_manifest(folder)
Traceback (most recent call last):
routegraph.errors.DeployError: ...a.onnx: checksum mismatch (the file changed after export; export again)
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import DeployError
from ..io import atomic_write_text

#: The format this version writes and reads; another tag is refused.
FORMAT = "routegraph-deploy/1"
MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str | Path, data: dict) -> None:
    """Write ``manifest.json`` into ``folder``: ``data`` with the format tag, and ``files`` (names
    relative to the folder) turned into ``{name: sha256}``."""
    folder = Path(folder)
    files = {name: sha256(folder / name) for name in data.get("files", [])}
    atomic_write_text(folder / MANIFEST, json.dumps({"format": FORMAT, **data, "files": files}, indent=1) + "\n")


def read_manifest(folder: str | Path) -> dict:
    """The manifest of an exported folder, its format and every file's checksum checked
    (:class:`~routegraph.errors.DeployError` naming the file otherwise)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DeployError(f"{folder}: no such folder (an exported folder is written by 'routegraph export RUN -o DIR')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeployError(f"{folder}: not an exported folder (no {MANIFEST}; write one with "
                          "'routegraph export RUN -o DIR')") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeployError(f"{path}: not a valid manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise DeployError(f"{path}: format {found!r}, this version reads {FORMAT!r} (export the run again)")
    files = data.get("files")
    if not isinstance(files, dict):
        raise DeployError(f"{path}: no file list")
    for name, digest in files.items():
        file = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise DeployError(f"{path}: file {name!r} lies outside the folder")
        if not file.is_file():
            raise DeployError(f"{file}: missing (listed in {MANIFEST})")
        if sha256(file) != digest:
            raise DeployError(f"{file}: checksum mismatch (the file changed after export; export again)")
    return data
