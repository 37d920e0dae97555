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
    train_images    float16 [N, 3, 32, 32] (the paper's tasks), linear colour space, values in [0, 1]
    train_labels    int64 [N]
    test_images     float16 [M, 3, 32, 32]
    test_labels     int64 [M]
    val_images      optional (a source with its own val split): float16 [V, 3, 32, 32]
    val_labels      optional: int64 [V]; with val_counts

A task's inputs may have any per-example shape a spec's input accepts, ``[F]``,
``[T, D]`` or ``[C, H, W]`` (the user's arrays, :mod:`routegraph.data.arrays`);
the images of the built-in and folder tasks are ``[C, H, W]``. The attributes
keep the name ``*_images`` for every kind of input.

Loading checks the format tag, shapes, that every image value is finite, and
that the labels' per-class counts match the stored counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from routegraph.errors import DataError
from routegraph.io import atomic_torch_save

from .rows import ImageRows
from .split import VAL_SEED, stratified_holdout

CACHE_FORMAT = "routegraph.task/1"
SPLITS = ("train", "test")  # stored by every task; "val" is stored only by sources that have one


@dataclass(frozen=True, eq=False)
class Task:
    """A classification task: inputs of one shape per example and labels 0..K-1. The inputs
    (``*_images``) are images ``[C, H, W]`` in linear colour space, values in [0, 1], for the
    paper's tasks (3x32x32) and folder tasks; feature vectors ``[F]``, sequences ``[T, D]`` or
    images of any channel count, as given, for the user's arrays (:meth:`from_arrays`, ``npz:PATH``).

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
    val_images: torch.Tensor | None = None  # the source's own val split, if it has one
    val_labels: torch.Tensor | None = None
    holdout: torch.Tensor | None = None  # else: rows of the train arrays held out as val (with_validation)
    origin: str | None = None  # the user's arrays: the file (or 'Task.from_arrays') errors name, with the key

    @classmethod
    def from_arrays(cls, x_train, y_train, x_test, y_test, *, class_names=None, x_val=None, y_val=None,
                    name: str = "arrays") -> "Task":
        """A task from the user's arrays (numpy or torch): inputs ``[N, *shape]`` with shape
        ``[F]``, ``[T, D]`` or ``[C, H, W]`` (float, or integers made float32; used as given),
        integer labels ``[N]`` in 0..K-1 (K: ``len(class_names)``, else the largest train label + 1).
        Checked like an ``npz:PATH`` file (:mod:`routegraph.data.arrays`); without ``x_val`` the
        validation split is carved from train (:meth:`with_validation`).

        >>> import numpy as np
        >>> task = Task.from_arrays(np.random.rand(40, 12), np.arange(40) % 4, np.random.rand(8, 12),
        ...                         np.arange(8) % 4).with_validation(0.25)
        >>> task.num_classes, tuple(task.images("train").shape), task.counts("val")
        (4, (30, 12), [3, 3, 2, 2])
        """
        from .arrays import task_from_arrays

        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
                  "x_val": x_val, "y_val": y_val, "class_names": class_names}
        return task_from_arrays(arrays, name=name)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def stored_splits(self) -> tuple[str, ...]:
        return SPLITS + (("val",) if self.val_labels is not None else ())

    def with_validation(self, fraction: float, max_examples: int = 0) -> "Task":
        """This task with a validation split: its own val split if it has one, else a fixed-seed
        stratified slice of train of ``fraction`` of its images, at most ``max_examples`` (0: no cap;
        :func:`~routegraph.data.split.stratified_holdout`), that the ``train`` split then excludes.
        Nothing is copied: the slice is a list of rows.

        >>> from routegraph.data import load_task
        >>> task = load_task("synthetic", n_train=200, n_test=10).with_validation(0.1)
        >>> len(task.rows("train")), len(task.rows("val")), task.counts("val")
        (180, 20, [2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
        """
        if self.val_labels is not None:
            return self
        return replace(self, holdout=stratified_holdout(self.train_labels, fraction, max_examples))

    def validation_record(self) -> dict[str, Any]:
        """Where the validation images come from, for a run's config.json."""
        if self.val_labels is not None:
            return {"source": "val", "n": len(self.val_labels)}
        return {"source": "train", "seed": VAL_SEED, "n": len(self.rows("val"))}

    def rows(self, split: str) -> torch.Tensor:
        """Indices into the stored arrays that ``split`` holds. 'val' without a val split of its own
        indexes the train arrays (the held-out slice); 'train' then lists the rest."""
        if split == "train" and self.holdout is not None:
            keep = torch.ones(len(self.train_labels), dtype=torch.bool)
            keep[self.holdout] = False
            return keep.nonzero().flatten()
        if split == "val" and self.val_labels is None:
            return self.holdout if self.holdout is not None else torch.zeros(0, dtype=torch.long)
        return torch.arange(len(self._stored(split)[1]))

    def _stored(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split == "val" and self.val_labels is None:
            split = "train"  # the held-out slice
        arrays = {"train": (self.train_images, self.train_labels), "test": (self.test_images, self.test_labels),
                  "val": (self.val_images, self.val_labels)}
        if split not in arrays:
            raise DataError(f"task {self.name!r} has no split {split!r} (train, val, test)")
        return arrays[split]

    def images(self, split: str) -> torch.Tensor:
        """The images of ``split`` ('train', 'val' or 'test'); the stored tensor itself (memory-mapped
        for a cache) unless a held-out slice must be gathered. To go through a split a batch at a
        time without gathering it, use :meth:`view`."""
        return self.view(split).read()

    def view(self, split: str) -> ImageRows:
        """The images of ``split`` as an index-based view of the stored arrays: nothing is read or
        copied until a slice of it is (:class:`~routegraph.data.rows.ImageRows`).

        >>> from routegraph.data import load_task
        >>> task = load_task("synthetic", n_train=200, n_test=10).with_validation(0.1)
        >>> view = task.view("val")
        >>> len(view), view.stored is task.train_images, tuple(view[:5].shape)
        (20, True, (5, 3, 32, 32))
        """
        images, labels = self._stored(split)
        rows = self.rows(split)
        return ImageRows(images, None if len(rows) == len(labels) else rows)

    def labels(self, split: str) -> torch.Tensor:
        labels = self._stored(split)[1]
        return labels if len(self.rows(split)) == len(labels) else labels[self.rows(split)]

    def counts(self, split: str) -> list[int]:
        """Number of images per class in ``split`` ('train', 'val' or 'test')."""
        return torch.bincount(self.labels(split), minlength=self.num_classes).tolist()

    def verify(self, expected_counts: dict[str, list[int]] | None = None, check_values: bool = True) -> None:
        """Raise :class:`DataError` unless shapes, dtypes, labels and per-class counts are right,
        and (with ``check_values``, which reads every image) every value is finite."""
        where = f"task {self.name!r}" + (f" ({self.cache_path})" if self.cache_path else "")
        if len(self.flip_symmetric) != self.num_classes:
            raise DataError(f"{where}: {len(self.flip_symmetric)} flip flags for {self.num_classes} classes")
        example_shape = tuple(self.train_images.shape[1:])  # [C, H, W]: 3x32x32 for the paper's tasks
        for split in self.stored_splits:
            images, labels = self._stored(split)
            if (images.dtype not in (torch.float16, torch.float32) or not 2 <= images.ndim <= 4
                    or tuple(images.shape[1:]) != example_shape):
                raise DataError(f"{where}: {split} inputs are {images.dtype} {tuple(images.shape)}; expected "
                                f"float16/float32 [N, F], [N, T, D] or [N, C, H, W], the same shape in every split")
            bad = _non_finite(images) if check_values else 0
            if bad:
                raise DataError(f"{where}: {split} images hold {bad} non-finite value(s) (NaN or inf); the data is "
                                f"corrupt - rebuild it with 'routegraph data prepare {self.name} --force'")
            if labels.dtype != torch.int64 or labels.shape != (len(images),):
                raise DataError(f"{where}: {split} labels are {labels.dtype} {tuple(labels.shape)}; expected int64 [{len(images)}]")
            if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
                raise DataError(f"{where}: {split} labels outside 0..{self.num_classes - 1}")
            if expected_counts is not None:
                found = torch.bincount(labels, minlength=self.num_classes).tolist()
                if found != list(expected_counts[split]):
                    raise DataError(
                        f"{where}: {split} images per class are {found}; expected {list(expected_counts[split])} "
                        "- the cache is corrupt or stale; rebuild it with 'routegraph data prepare "
                        f"{self.name} --force'"
                    )

    def check_input_shape(self, dims, what: str = "the network's input") -> None:
        """Raise :class:`DataError` unless ``dims`` (the network's input shape: ``(C, H, W)``,
        ``(F,)``, ...) is the per-example shape of this task's inputs. For the user's arrays the
        message names the file and its key ``x_train``.

        >>> from routegraph.data import load_task
        >>> load_task("synthetic", n_train=10, n_test=10).check_input_shape((3, 16, 16))
        Traceback (most recent call last):
        ...
        routegraph.errors.DataError: the network's input shape is [3, 16, 16], but the images of task 'synthetic' are [3, 32, 32]; write the spec's input as [3, 32, 32]
        """
        found = list(self.train_images.shape[1:])
        if list(dims) == found:
            return
        if self.origin is not None:
            raise DataError(f"{self.origin}: x_train: examples of shape {found}, but {what} is {list(dims)}; "
                            f"write the spec's input as {found}")
        raise DataError(f"{what} shape is {list(dims)}, but the images of task {self.name!r} are {found}; "
                        f"write the spec's input as {found}")

    def summary(self) -> str:
        """Per-class counts of the stored splits as a small table."""
        splits = ("train",) + (("val",) if self.val_labels is not None else ()) + ("test",)
        counts = {split: torch.bincount(self._stored(split)[1], minlength=self.num_classes).tolist() for split in splits}
        width = max(len(n) for n in self.class_names)
        lines = [f"{'class':<{width + 4}}" + "".join(f"  {split:>7}" for split in splits) + "  flip"]
        for i, name in enumerate(self.class_names):
            flip = "yes" if self.flip_symmetric[i] else "no"
            lines.append(f"{i:>2}  {name:<{width}}" + "".join(f"  {counts[s][i]:>7}" for s in splits) + f"  {flip}")
        lines.append(f"{'total':<{width + 4}}" + "".join(f"  {sum(counts[s]):>7}" for s in splits))
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
    for split in task.stored_splits:  # the stored arrays: a held-out slice is rows, not stored
        images, labels = task._stored(split)
        payload[f"{split}_counts"] = torch.bincount(labels, minlength=task.num_classes).tolist()
        payload[f"{split}_images"] = images.to(torch.float16).contiguous()
        payload[f"{split}_labels"] = labels.to(torch.int64).contiguous()
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
            val_images=payload.get("val_images"),
            val_labels=payload.get("val_labels"),
        )
        expected = {split: payload[f"{split}_counts"] for split in task.stored_splits}
    except KeyError as exc:
        raise DataError(f"{path}: cache lacks entry {exc}; delete the file to rebuild it") from None
    task.verify(expected)
    return task

