"""Datasets for routegraph: the paper's tasks, augmentation and deterministic batches.

>>> from routegraph.data import load_task, BatchStream
>>> task = load_task("synthetic", n_train=500, n_test=100)   # offline, no files
>>> images, labels = BatchStream(task, batch_size=32).batch(0)
>>> tuple(images.shape), task.class_names[:2]
((32, 3, 32, 32), ('disk', 'square'))

Real tasks ('hybrid', 'cifar2', 'cifar5', 'cifar10', 'mnist') are built from
the MNIST/CIFAR-10 files in the data directory (see :func:`resolve_data_dir`)
on first use and cached. See docs/data.md.
"""
from __future__ import annotations

from .augment import AugmentParams, Augmenter
from .paths import resolve_data_dir
from .stream import BatchStream
from .task import Task
from .tasks import TASKS, TaskRecipe, find_cached_task, load_task

__all__ = [
    "AugmentParams",
    "Augmenter",
    "BatchStream",
    "TASKS",
    "Task",
    "TaskRecipe",
    "find_cached_task",
    "load_task",
    "resolve_data_dir",
]
