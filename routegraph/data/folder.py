"""``folder:PATH`` tasks: the user's own images in the ImageFolder layout.

::

    PATH/train/<class>/*.png|jpg|jpeg|bmp|webp     required
    PATH/test/<class>/*                            required (classes: a subset of train's)
    PATH/val/<class>/*                             optional validation split

Class names are the train folder names, sorted; labels follow that order.
Images are decoded by :func:`routegraph.data.decode.decode_image` to the
input size (options ``size``, ``channels``, ``resize``; ``train`` fills the
first two in from the spec's input shape) and cached once, as float16 ``.npy``
files that are memory-mapped when loaded (the train map advised random access,
so no read-ahead): a folder larger than memory trains, each batch reading only
its own images.

Cache: a folder ``folder-<name>-<path hash>-<fingerprint>/`` in the task-cache
directory (:func:`routegraph.data.paths.writable_cache_dir`) holding
``meta.json`` (format tag ``routegraph.folder-task/1``, class names, counts,
settings) and ``<split>_images.npy`` / ``<split>_labels.npy``. The fingerprint
hashes every image's relative path, size and mtime and the decoding settings,
so adding, removing or touching a file, or another size, builds a new cache
(older ones of the same folder and settings are deleted). It is written into a
temporary folder renamed into place: an error leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from routegraph.errors import ConfigError, DataError

from .decode import RESIZE_MODES, check_resize, decode_image, image_size, is_image_file
from .paths import cache_dirs, resolve_data_dir, writable_cache_dir
from .schemes import path_of
from .task import Task

FORMAT = "routegraph.folder-task/1"
FOLDER_SPLITS = ("train", "test", "val")  # val is optional
OPTIONS = ("size", "channels", "resize", "flip", "rebuild", "cache")
DEFAULT_SIZE = (32, 32)


def folder_path(name: str) -> Path | None:
    """The folder of a ``folder:PATH`` task name, or None for any other task.

    >>> folder_path("folder:~/photos"), folder_path("hybrid")
    (PosixPath('~/photos'), None)
    """
    return path_of(name, "folder")


def input_options(options: dict | None, dims) -> dict:
    """``options`` with ``size`` and ``channels`` taken from an input shape ``(C, H, W)``
    where not given: how ``train`` (the spec) and ``evaluate`` (the run) size the images.

    >>> input_options({"resize": "stretch"}, (1, 40, 48))
    {'resize': 'stretch', 'size': '40x48', 'channels': 1}
    >>> input_options({}, (10,))
    Traceback (most recent call last):
    ...
    routegraph.errors.DataError: a folder of images needs a network input of shape [C, H, W] (its images are resized to H x W), not [10]
    """
    options = dict(options or {})
    dims = [int(d) for d in dims]
    if len(dims) != 3:  # [F] or [T, D]: no image size to resize to
        raise DataError(f"a folder of images needs a network input of shape [C, H, W] (its images are "
                        f"resized to H x W), not {dims}")
    options.setdefault("size", f"{dims[1]}x{dims[2]}")
    options.setdefault("channels", dims[0])
    return options


def parse_size(value) -> tuple[int, int]:
    """``"40x48"``, ``40`` or ``[40, 48]`` -> ``(40, 48)`` (height, width).

    >>> parse_size("40x48"), parse_size(32), parse_size([20, 28])
    ((40, 48), (32, 32), (20, 28))
    """
    if isinstance(value, int) and not isinstance(value, bool):
        parts = [value, value]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        try:
            parts = [int(p) for p in str(value).lower().split("x")]
        except ValueError:
            parts = []
    if len(parts) != 2 or not all(isinstance(p, int) and not isinstance(p, bool) and p > 0 for p in parts):
        raise ConfigError(f"size={value!r}: expected HxW in pixels, e.g. size=64x64")
    return int(parts[0]), int(parts[1])


@dataclass(frozen=True)
class FolderSettings:
    """How the images are decoded: ``size`` (H, W), ``channels`` (1 or 3), ``resize`` mode."""

    size: tuple[int, int]
    channels: int
    resize: str

    @classmethod
    def from_options(cls, options: dict) -> "FolderSettings":
        channels = options.get("channels", 3)
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ConfigError(f"channels={channels!r}: expected 1 (grayscale) or 3 (RGB)")
        resize = options.get("resize", "crop")
        if resize not in RESIZE_MODES:
            raise ConfigError(f"resize={resize!r}: expected one of {', '.join(RESIZE_MODES)}")
        return cls(parse_size(options.get("size", DEFAULT_SIZE)), int(channels), check_resize(resize))


def scan_folder(root: Path) -> tuple[tuple[str, ...], dict[str, list[tuple[Path, int]]]]:
    """Class names and, per split present, the ``(file, label)`` list, sorted; a DataError naming
    the folder for a layout that is not ``train/<class>/*``, ``test/<class>/*`` (``val/`` optional).

    >>> import tempfile, PIL.Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for split, cls in [("train", "cat"), ("train", "dog"), ("test", "dog")]:
    ...     (root / split / cls).mkdir(parents=True); PIL.Image.new("RGB", (8, 8)).save(root / split / cls / "a.png")
    >>> names, files = scan_folder(root)
    >>> names, [(p.parent.name, label) for p, label in files["test"]]
    (('cat', 'dog'), [('dog', 1)])
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected {root}/train/<class>/*.png and {root}/test/<class>/*.png")
    if not any(is_image_file(p) for p in root.rglob("*") if p.is_file()):
        raise DataError(f"{root}: a folder with no images (.png, .jpg, .jpeg, .bmp, .webp); expected "
                        f"{root}/train/<class>/* and {root}/test/<class>/*")
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DataError(f"{root / split}: no such folder; a folder task needs {root}/train/<class>/* "
                            f"and {root}/test/<class>/*")
    class_names = tuple(_class_folders(root / "train"))
    if not class_names:
        raise DataError(f"{root / 'train'}: no class folders; put each class's images in train/<class>/")
    files: dict[str, list[tuple[Path, int]]] = {}
    for split in FOLDER_SPLITS:
        folder = root / split
        if not folder.is_dir():
            continue
        loose = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
        if loose:
            raise DataError(f"{loose[0]}: an image outside a class folder; put it in {folder}/<class>/")
        files[split] = []
        for name in _class_folders(folder):
            if name not in class_names:
                raise DataError(f"{folder / name}: class {name!r} is not in {root / 'train'} "
                                f"(classes: {', '.join(class_names)})")
            images = sorted(p for p in (folder / name).rglob("*") if p.is_file() and is_image_file(p)
                            and not p.name.startswith("."))
            if not images:
                raise DataError(f"{folder / name}: empty class folder (no .png, .jpg, .jpeg, .bmp or .webp images)")
            files[split] += [(p, class_names.index(name)) for p in images]
    return class_names, files


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def fingerprint(root: Path, files: dict[str, list[tuple[Path, int]]], settings: FolderSettings) -> str:
    """A hash of every file's relative path, label, size and mtime, and of the decoding settings."""
    digest = hashlib.sha1(f"{FORMAT}|{settings}".encode())
    for split, entries in files.items():
        for path, label in entries:
            stat = path.stat()
            digest.update(f"{split}|{path.relative_to(root)}|{label}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def _cache_prefix(root: Path, settings: FolderSettings) -> str:
    where = hashlib.sha1(str(root.absolute()).encode()).hexdigest()[:8]
    size = f"{settings.size[0]}x{settings.size[1]}"
    return f"folder-{root.absolute().name or 'root'}-{where}-{size}c{settings.channels}{settings.resize}-"


def load_folder_task(name: str, data_dir=None, *, seed: int = 0, **options) -> Task:
    """The task of ``name`` (``folder:PATH``): from its cache if current, else decoded and cached.

    Options: ``size`` (``HxW``, default 32x32), ``channels`` (3 or 1), ``resize``
    (crop, stretch, none), ``flip`` (the classes that are flip-symmetric, comma-separated,
    or ``all``: training flips their images horizontally; default none), ``rebuild=True``
    (ignore the cache), ``cache=False`` (decode into memory, write nothing). ``seed`` is
    unused: nothing is random.

    >>> import tempfile, PIL.Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for split, cls in [("train", "cat"), ("train", "dog"), ("test", "cat")]:
    ...     (root / split / cls).mkdir(parents=True); PIL.Image.new("RGB", (28, 20)).save(root / split / cls / "a.png")
    >>> task = load_folder_task(f"folder:{root}", root / "cache", size="20x28")
    >>> task.class_names, tuple(task.train_images.shape), task.counts("test")
    (('cat', 'dog'), (2, 3, 20, 28), [1, 0])
    >>> load_folder_task(f"folder:{root}", root / "cache", size="20x28", flip="dog").flip_symmetric
    (False, True)
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for a folder task (known: {', '.join(OPTIONS)})")
    flip = options.pop("flip", None)  # how training augments, not how images are decoded: not in the cache key
    task = _decoded_task(name, data_dir, options)
    return replace(task, flip_symmetric=flip_flags(task.class_names, flip))


def flip_flags(class_names, flip) -> tuple[bool, ...]:
    """Per-class flip-symmetry from the ``flip`` option: class names, comma-separated, or ``all``.

    >>> flip_flags(("cat", "dog", "emu"), "emu,cat")
    (True, False, True)
    """
    if flip in (None, "", False):
        return (False,) * len(class_names)
    if flip is True or flip == "all":
        return (True,) * len(class_names)
    named = [n.strip() for n in str(flip).split(",") if n.strip()]
    unknown = [n for n in named if n not in class_names]
    if unknown:
        from routegraph.errors import did_you_mean, known_names

        hint = did_you_mean(unknown[0], class_names)
        raise ConfigError(f"flip={flip!r}: no class {unknown[0]!r}" + (f"; {hint}" if hint else "")
                          + f" (known: {known_names(class_names)}, or 'all')")
    return tuple(n in named for n in class_names)


def _decoded_task(name: str, data_dir, options: dict) -> Task:
    root = folder_path(name).expanduser()
    settings = FolderSettings.from_options(options)
    class_names, files = scan_folder(root)
    if settings.resize == "none":
        settings = _check_one_size(files, settings, "size" in options)
    key = _cache_prefix(root, settings) + fingerprint(root, files, settings)
    data_dir = resolve_data_dir(data_dir)
    if not options.get("rebuild", False):
        for directory in cache_dirs(data_dir):
            if (directory / key / "meta.json").is_file():
                return _load(name, directory / key)
    if not options.get("cache", True):
        return _in_memory(name, class_names, files, settings)
    target = writable_cache_dir(data_dir)
    if target is None:
        warnings.warn(f"no writable cache directory for {data_dir}; {name!r} is decoded into memory", stacklevel=2)
        return _in_memory(name, class_names, files, settings)
    from routegraph.io import atomic_directory

    if (target / key).exists():  # --force: replace it
        shutil.rmtree(target / key)
    with atomic_directory(target / key) as tmp:
        _write(tmp, root, class_names, files, settings)
    for old in target.iterdir():
        if old.name.startswith(_cache_prefix(root, settings)) and old.name != key and old.is_dir():  # the folder changed since: that cache is stale for good
            shutil.rmtree(old, ignore_errors=True)
    return _load(name, target / key)


def _check_one_size(files, settings: FolderSettings, size_given: bool) -> FolderSettings:
    """With resize 'none' every image must have one size (checked from headers, before decoding):
    the input's, or when no ``size`` was given, the images' own."""
    first, first_size = None, None
    for entries in files.values():
        for path, _ in entries:
            size = image_size(path)
            if first is None:
                first, first_size = path, size
            elif size != first_size:
                raise DataError(f"{path}: image is {size[0]}x{size[1]} (HxW) but {first} is "
                                f"{first_size[0]}x{first_size[1]}; with resize 'none' all images must have one "
                                "size - use --data-option resize=crop or resize=stretch")
    if size_given and first_size != settings.size:
        raise DataError(f"{first}: image is {first_size[0]}x{first_size[1]} (HxW) but the input is "
                        f"{settings.size[0]}x{settings.size[1]}, and resize is 'none'; write the spec's input as "
                        f"[{settings.channels}, {first_size[0]}, {first_size[1]}], or use --data-option resize=crop")
    return replace(settings, size=first_size)


def _decoded(entries, settings: FolderSettings, chunk: int = 256):
    """float16 ``[n, C, H, W]`` numpy chunks of the decoded images, in order."""
    for start in range(0, len(entries), chunk):
        part = entries[start:start + chunk]
        out = np.empty((len(part), settings.channels, *settings.size), dtype=np.float16)
        for i, (path, _) in enumerate(part):
            out[i] = decode_image(path, settings.size, settings.channels, settings.resize).numpy()
        yield out


def _write(out: Path, root: Path, class_names, files, settings: FolderSettings) -> None:
    """Decode into ``.npy`` files a chunk at a time: memory stays small however many images there are."""
    counts = {}
    for split, entries in files.items():
        shape = (len(entries), settings.channels, *settings.size)
        with open(out / f"{split}_images.npy", "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": np.dtype(np.float16).str, "fortran_order": False,
                                                          "shape": shape})
            for images in _decoded(entries, settings):
                handle.write(images.tobytes())
            os.fsync(handle.fileno())
        labels = np.array([label for _, label in entries], dtype=np.int64)
        np.save(out / f"{split}_labels.npy", labels)
        counts[split] = np.bincount(labels, minlength=len(class_names)).tolist()
    meta = {"format": FORMAT, "folder": str(root.absolute()), "class_names": list(class_names),
            "size": list(settings.size), "channels": settings.channels, "resize": settings.resize, "counts": counts}
    with open(out / "meta.json", "w") as handle:
        handle.write(json.dumps(meta, indent=1) + "\n")
        os.fsync(handle.fileno())


def _load(name: str, cache: Path) -> Task:
    """The task in ``cache``, its images memory-mapped (copy-on-write: the file is never changed)."""
    try:
        meta = json.loads((cache / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{cache / 'meta.json'}: unreadable folder-task cache ({exc}); delete {cache}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DataError(f"{cache}: cache format {found!r}; expected {FORMAT!r} - delete the folder to rebuild it")
    splits = {}
    for split in meta["counts"]:
        try:
            images = np.load(cache / f"{split}_images.npy", mmap_mode="c", allow_pickle=False)
            if split == "train":
                _random_access(images)
            images = torch.from_numpy(images)
            labels = torch.from_numpy(np.load(cache / f"{split}_labels.npy", allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise DataError(f"{cache}: unreadable {split} split ({exc}); delete the folder to rebuild it") from None
        splits[split] = (images, labels)
    task = _task(name, tuple(meta["class_names"]), splits, meta, cache)
    # Values are finite by construction ((v / 255) ** 2.2 of 8-bit pixels); scanning them would read the
    # whole cache at every load, which for a folder larger than memory is a full pass over the disk.
    task.verify({split: meta["counts"][split] for split in task.stored_splits}, check_values=False)
    return task


def _random_access(images: np.ndarray) -> None:
    """Tell the kernel the training split's map is read at random (batches of shuffled rows): no
    read-ahead, so under memory pressure a missed page costs its own image, not its neighbours'."""
    mapped = getattr(images, "_mmap", None)
    if mapped is not None and hasattr(mapped, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)


def _in_memory(name: str, class_names, files, settings: FolderSettings) -> Task:
    splits = {split: (torch.from_numpy(np.concatenate(list(_decoded(entries, settings)))),
                      torch.tensor([label for _, label in entries], dtype=torch.int64))
              for split, entries in files.items()}
    meta = {"size": list(settings.size), "channels": settings.channels, "resize": settings.resize}
    task = _task(name, tuple(class_names), splits, meta, None)
    task.verify()
    return task


def _task(name: str, class_names, splits, meta: dict, cache: Path | None) -> Task:
    extra = {}
    if "val" in splits:  # the val/ folder is the validation split
        extra = {"val_images": splits["val"][0], "val_labels": splits["val"][1]}
    return Task(
        name=name, class_names=class_names, flip_symmetric=(False,) * len(class_names),
        train_images=splits["train"][0], train_labels=splits["train"][1],
        test_images=splits["test"][0], test_labels=splits["test"][1],
        recipe={"size": "x".join(map(str, meta["size"])), "channels": meta["channels"], "resize": meta["resize"]},
        cache_path=cache, **extra,
    )
