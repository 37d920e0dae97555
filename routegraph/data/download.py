"""Downloading the official MNIST and CIFAR-10 archives, checksum-verified.

``download(["mnist", "cifar10"], data_dir)`` fetches each file from the first
mirror that serves it intact, shows a tqdm progress bar, and checks the MD5
published for the official file (MNIST: the ones torchvision checks; CIFAR-10:
``c58f30108f718f92721af3b95e74349a``). A file is written through a temporary
file and renamed only after its size and checksum are verified, so an
interrupted or corrupt transfer leaves nothing at the target path.

Mirrors: a file named ``F`` is fetched from ``<mirror>/F``. The default mirrors
are the official ones; ``mirrors=[...]``, ``--mirror URL`` or
``$ROUTEGRAPH_MIRROR`` (comma-separated base URLs) replace them, e.g. for a
local copy served over HTTP.

Where files go: ``<data dir>/mnist/*.gz`` and ``<data dir>/cifar-10-python.tar.gz``,
the layout the loaders read. Files already present are not fetched again
(unless ``force=True``), and neither is a dataset the loaders already find
in another accepted form (e.g. an extracted ``cifar-10-batches-py/``).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from routegraph.errors import ConfigError, DataError
from routegraph.io import atomic_open

from .cifar import CIFAR_ARCHIVE, find_cifar
from .mnist import mnist_present
from .paths import is_writable_dir, resolve_data_dir

ENV_MIRROR = "ROUTEGRAPH_MIRROR"
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, published MD5 and place in the data directory."""

    name: str
    md5: str
    subdir: str = ""


@dataclass(frozen=True)
class RemoteDataset:
    name: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]


REMOTE_DATASETS = {
    "mnist": RemoteDataset(
        "mnist",
        (
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "mnist"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", "mnist"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", "mnist"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", "mnist"),
        ),
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    ),
    "cifar10": RemoteDataset(
        "cifar10",
        (RemoteFile(CIFAR_ARCHIVE, "c58f30108f718f92721af3b95e74349a"),),
        ("https://www.cs.toronto.edu/~kriz/",),
    ),
}


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def mirrors_from_env() -> list[str] | None:
    value = os.environ.get(ENV_MIRROR, "")
    urls = [url.strip() for url in value.split(",") if url.strip()]
    return urls or None


def fetch(url: str, dest: Path, md5: str | None, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically; verify its length and (if given) MD5.

    Raises :class:`DataError` on a network error, an interrupted transfer or a
    checksum mismatch; ``dest`` is then left as it was.
    """
    from tqdm import tqdm

    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length is not None else None
            received = 0
            with atomic_open(dest, "wb") as out, tqdm(
                total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                desc=dest.name, disable=not progress, leave=False,
            ) as bar:
                while True:
                    block = response.read(CHUNK_BYTES)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
                if expected is not None and received != expected:
                    raise DataError(f"{url}: transfer interrupted after {received} of {expected} bytes")
                if md5 is not None and digest.hexdigest() != md5:
                    raise DataError(f"{url}: checksum mismatch: md5 {digest.hexdigest()}, expected {md5}")
    except DataError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        # HTTPError, refused connections, timeouts, IncompleteRead, RemoteDisconnected ...
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        else:
            reason = getattr(exc, "reason", None) or exc
        raise DataError(f"{url}: download failed ({type(exc).__name__}: {reason})") from None
    return dest


def _already_present(dataset: str, data_dir: Path) -> Path | None:
    """Where the loaders already find ``dataset`` in ``data_dir``, or None."""
    if dataset == "cifar10":
        return find_cifar(data_dir)
    found = mnist_present(data_dir)
    return data_dir / "mnist" if all(found.values()) else None


def download(
    datasets: Iterable[str],
    data_dir: str | Path | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    checksums: dict[str, str] | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
    log=print,
) -> list[Path]:
    """Download ``datasets`` ('mnist', 'cifar10') into the data directory; return the files written.

    ``mirrors`` (else ``$ROUTEGRAPH_MIRROR``, else the official hosts) are tried
    in order for each file. ``checksums`` maps a file name to the MD5 expected
    instead of the published one (for tests against locally generated files).

    >>> download(["mnist"], "~/data", mirrors=["http://127.0.0.1:8000/"])  # doctest: +SKIP
    """
    names = list(datasets)
    unknown = [n for n in names if n not in REMOTE_DATASETS]
    if unknown or not names:
        raise ConfigError(f"cannot download {', '.join(unknown) or 'nothing'}; known: {', '.join(REMOTE_DATASETS)}")
    data_dir = resolve_data_dir(data_dir)
    if not is_writable_dir(data_dir):
        raise DataError(f"data directory {data_dir} is not writable; choose another with --data-dir or $ROUTEGRAPH_DATA")
    chosen_mirrors = list(mirrors) if mirrors else mirrors_from_env()
    written = []
    for name in names:
        dataset = REMOTE_DATASETS[name]
        present = _already_present(name, data_dir)
        if present is not None and not force:
            log(f"{name}: already present at {present}; not downloading (use --force to fetch anyway)")
            continue
        for remote in dataset.files:
            dest = data_dir / remote.subdir / remote.name
            md5 = (checksums or {}).get(remote.name, remote.md5)
            if dest.exists() and not force:
                log(f"{name}: {dest} exists; keeping it")
                continue
            written.append(_fetch_from_mirrors(remote, dest, md5, chosen_mirrors or list(dataset.mirrors),
                                               progress=progress, timeout=timeout))
            log(f"{name}: wrote {dest} (md5 {md5} verified)")
    return written


def _fetch_from_mirrors(remote: RemoteFile, dest: Path, md5: str, mirrors: list[str], **kwargs) -> Path:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + remote.name
        try:
            return fetch(url, dest, md5, **kwargs)
        except DataError as exc:
            failures.append(str(exc))
    raise DataError(
        f"could not download {remote.name} from any mirror:\n  " + "\n  ".join(failures)
        + f"\nCopy the file to {dest} by hand, or point --mirror / ${ENV_MIRROR} at a host that has it."
    )
