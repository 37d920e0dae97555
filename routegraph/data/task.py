"""The :class:`Task` container and its cache file.

Cache format (one file per task, ``<cache dir>/<task>-<recipe key>.pt``): a
``torch.save`` of a plain dict, so it loads with ``torch.load(weights_only=True,
mmap=True)`` (no pickled code; image tensors are memory-mapped, not read)::

    format          "routegraph.task/1"
    name            task name
    class_names     list[str]
    flip_symmetric  list[bool], per class
    recipe          dict of str -> str/int/float: how it was built (seed, sources, ...)
    train_counts    list[int], images per class
    test_counts     list[int]
    train_images    float16 [N, 3, 32, 32], linear colour space, values in [0, 1]
    train_labels    int64 [N]
    test_images     float16 [M, 3, 32, 32]
    test_labels     int64 [M]

Loading checks the format tag, shapes, that every image value is finite, and
that the labels' per-class counts match the stored counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from routegraph.errors import DataError
from routegraph.io import atomic_torch_save

CACHE_FORMAT = "routegraph.task/1"
SPLITS = ("train", "test")


@dataclass(frozen=True, eq=False)
class Task:
    """A classification task: images ``[C, H, W]`` (3x32x32 for the paper's tasks) in linear
    colour space, values in [0, 1], labels 0..C-1.

    >>> from routegraph.data import load_task
    >>> task = load_task("synthetic", n_train=100, n_test=50)
    >>> task.num_classes, tuple(task.train_images.shape)
    (10, (100, 3, 32, 32))
    """

    name: str
    class_names: tuple[str, ...]
    flip_symmetric: tuple[bool, ...]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    recipe: dict[str, Any] = field(default_factory=dict)
    cache_path: Path | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def images(self, split: str) -> torch.Tensor:
        return self.train_images if split == "train" else self.test_images

    def labels(self, split: str) -> torch.Tensor:
        return self.train_labels if split == "train" else self.test_labels

    def counts(self, split: str) -> list[int]:
        """Number of images per class in ``split`` ('train' or 'test')."""
        return torch.bincount(self.labels(split), minlength=self.num_classes).tolist()

    def verify(self, expected_counts: dict[str, list[int]] | None = None, check_values: bool = True) -> None:
        """Raise :class:`DataError` unless shapes, dtypes, labels and per-class counts are right,
        and (with ``check_values``, which reads every image) every value is finite."""
        where = f"task {self.name!r}" + (f" ({self.cache_path})" if self.cache_path else "")
        if len(self.flip_symmetric) != self.num_classes:
            raise DataError(f"{where}: {len(self.flip_symmetric)} flip flags for {self.num_classes} classes")
        image_shape = tuple(self.train_images.shape[1:])  # [C, H, W]: 3x32x32 for the paper's tasks
        for split in SPLITS:
            images, labels = self.images(split), self.labels(split)
            if (images.dtype not in (torch.float16, torch.float32) or images.ndim != 4 or images.shape[1] not in (1, 3)
                    or tuple(images.shape[1:]) != image_shape):
                raise DataError(f"{where}: {split} images are {images.dtype} {tuple(images.shape)}; expected "
                                f"float16/float32 [N, C, H, W] with C 1 or 3, the same C, H, W in every split")
            bad = _non_finite(images) if check_values else 0
            if bad:
                raise DataError(f"{where}: {split} images hold {bad} non-finite value(s) (NaN or inf); the data is "
                                f"corrupt - rebuild it with 'routegraph data prepare {self.name} --force'")
            if labels.dtype != torch.int64 or labels.shape != (len(images),):
                raise DataError(f"{where}: {split} labels are {labels.dtype} {tuple(labels.shape)}; expected int64 [{len(images)}]")
            if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
                raise DataError(f"{where}: {split} labels outside 0..{self.num_classes - 1}")
            if expected_counts is not None:
                found = self.counts(split)
                if found != list(expected_counts[split]):
                    raise DataError(
                        f"{where}: {split} images per class are {found}; expected {list(expected_counts[split])} "
                        "- the cache is corrupt or stale; rebuild it with 'routegraph data prepare "
                        f"{self.name} --force'"
                    )

    def check_input_shape(self, dims, what: str = "the network's input") -> None:
        """Raise :class:`DataError` unless ``dims`` (C, H, W) is the shape of this task's images.

        >>> from routegraph.data import load_task
        >>> load_task("synthetic", n_train=10, n_test=10).check_input_shape((3, 16, 16))
        Traceback (most recent call last):
        ...
        routegraph.errors.DataError: the network's input shape is [3, 16, 16], but the images of task 'synthetic' are [3, 32, 32]; write the spec's input as [3, 32, 32]
        """
        found = list(self.train_images.shape[1:])
        if list(dims) != found:
            raise DataError(f"{what} shape is {list(dims)}, but the images of task {self.name!r} are {found}; "
                            f"write the spec's input as {found}")

    def summary(self) -> str:
        """Per-class counts as a small table."""
        train, test = self.counts("train"), self.counts("test")
        width = max(len(n) for n in self.class_names)
        lines = [f"{'class':<{width + 4}}  {'train':>7}  {'test':>6}  flip"]
        for i, name in enumerate(self.class_names):
            flip = "yes" if self.flip_symmetric[i] else "no"
            lines.append(f"{i:>2}  {name:<{width}}  {train[i]:>7}  {test[i]:>6}  {flip}")
        lines.append(f"{'total':<{width + 4}}  {sum(train):>7}  {sum(test):>6}")
        return "\n".join(lines)


def _non_finite(images: torch.Tensor, chunk: int = 4096) -> int:
    """Count NaN/inf values, a chunk at a time (a memory-mapped cache is not read in whole at once)."""
    if not images.is_floating_point():
        return 0
    return sum(int((~torch.isfinite(images[i:i + chunk])).sum()) for i in range(0, len(images), chunk))


def save_task(task: Task, path: Path) -> None:
    """Write ``task`` to ``path`` atomically in the cache format (images as float16)."""
    payload: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "name": task.name,
        "class_names": list(task.class_names),
        "flip_symmetric": [bool(f) for f in task.flip_symmetric],
        "recipe": dict(task.recipe),
    }
    for split in SPLITS:
        payload[f"{split}_counts"] = task.counts(split)
        payload[f"{split}_images"] = task.images(split).to(torch.float16).contiguous()
        payload[f"{split}_labels"] = task.labels(split).to(torch.int64).contiguous()
    atomic_torch_save(payload, path)


def load_cached_task(path: Path) -> Task:
    """Load and verify a cache file written by :func:`save_task` (memory-mapped)."""
    path = Path(path)
    try:
        payload = torch.load(path, weights_only=True, mmap=True, map_location="cpu")
    except Exception as exc:  # torch raises many types for a damaged zip
        raise DataError(
            f"{path}: unreadable task cache ({type(exc).__name__}: {exc}); delete it or rebuild it "
            "with 'routegraph data prepare TASK --force'"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise DataError(f"{path}: cache format {found!r}; expected {CACHE_FORMAT!r} - delete the file to rebuild it")
    try:
        task = Task(
            name=str(payload["name"]),
            class_names=tuple(payload["class_names"]),
            flip_symmetric=tuple(bool(f) for f in payload["flip_symmetric"]),
            train_images=payload["train_images"],
            train_labels=payload["train_labels"],
            test_images=payload["test_images"],
            test_labels=payload["test_labels"],
            recipe=dict(payload.get("recipe", {})),
            cache_path=path,
        )
        expected = {split: payload[f"{split}_counts"] for split in SPLITS}
    except KeyError as exc:
        raise DataError(f"{path}: cache lacks entry {exc}; delete the file to rebuild it") from None
    task.verify(expected)
    return task

