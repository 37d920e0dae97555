"""Deterministic training batches that a resumed run reproduces exactly.

Training examples are visited epoch by epoch, each epoch in the order of a
permutation drawn from a generator seeded by ``(seed, epoch)``. Iteration ``t``
takes global positions ``t*B .. t*B + B - 1`` of that endless sequence (a batch
may straddle two epochs), and its augmentation draws come from a generator
seeded by ``(seed, t)``. So ``batch(t)`` is a pure function of ``(task, seed, t)``:
there is no state to save in a checkpoint, and resuming at iteration ``t`` sees
exactly the batches an uninterrupted run would.

The examples are the task's ``train`` split (:meth:`Task.rows`): with a held-out
validation slice (:meth:`Task.with_validation`) its rows are never visited.
Batches are gathered from the stored arrays, a batch at a time.

For data-parallel training, ``batch_size`` is the *global* batch: each of
``world_size`` ranks gets its contiguous slice of the same global batch, and
the slices of all ranks together are exactly the ``world_size=1`` batch.

>>> from routegraph.data import load_task
>>> stream = BatchStream(load_task("synthetic", n_train=300, n_test=10), batch_size=64, seed=0)
>>> images, labels = stream.batch(7)
>>> images.dtype, tuple(images.shape), labels.dtype
(torch.float32, (64, 3, 32, 32), torch.int64)
"""
from __future__ import annotations

from typing import Iterator

import torch

from routegraph.errors import ConfigError

from .augment import Augmenter, is_image
from .seeding import generator_for
from .task import Task


class BatchStream:
    """Training batches of ``task``: ``batch(t)`` depends only on ``(seed, t)``."""

    def __init__(self, task: Task, batch_size: int = 128, seed: int = 0, augment: bool = True,
                 rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size}: expected at least 1")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank={rank}, world_size={world_size}: expected 0 <= rank < world_size")
        if batch_size % world_size:
            raise ConfigError(f"batch_size={batch_size} is the global batch and must be divisible by world_size={world_size}")
        # The rows of the train arrays to visit: all of them, or all but a held-out validation slice.
        self.rows = task.rows("train") if task.holdout is not None else None
        if self.num_examples_of(task) == 0:
            raise ConfigError(f"task {task.name!r} has no training images")
        self.task = task
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        # shifts and flips are for images: other inputs are never augmented (augmentation_record)
        self.augmenter = Augmenter(task.flip_symmetric) if augment and is_image(task.train_images.shape[1:]) else None
        self._permutations: dict[int, torch.Tensor] = {}  # memo of recent epochs; not state

    def num_examples_of(self, task: Task) -> int:
        return len(task.train_labels) if self.rows is None else len(self.rows)

    @property
    def num_examples(self) -> int:
        """Training examples visited per epoch (a held-out validation slice excluded)."""
        return self.num_examples_of(self.task)

    @property
    def local_batch_size(self) -> int:
        return self.batch_size // self.world_size

    def epoch_of(self, iteration: int) -> float:
        """Fractional epoch reached at the start of ``iteration``."""
        return iteration * self.batch_size / self.num_examples

    def permutation(self, epoch: int) -> torch.Tensor:
        """The visiting order of training examples in ``epoch``."""
        if epoch not in self._permutations:
            if len(self._permutations) >= 2:
                self._permutations.pop(min(self._permutations))
            generator = generator_for(self.seed, "epoch", epoch)
            self._permutations[epoch] = torch.randperm(self.num_examples, generator=generator)
        return self._permutations[epoch]

    def global_indices(self, iteration: int) -> torch.Tensor:
        """Indices into the task's train arrays of the whole (all ranks') batch of ``iteration``
        (never a row of the held-out validation slice)."""
        if iteration < 0:
            raise ConfigError(f"iteration={iteration}: expected a non-negative iteration")
        positions = torch.arange(iteration * self.batch_size, (iteration + 1) * self.batch_size)
        epochs = positions // self.num_examples
        offsets = positions % self.num_examples
        indices = torch.empty_like(positions)
        for epoch in torch.unique(epochs).tolist():  # one or two epochs (more only if batch > dataset)
            here = epochs == epoch
            indices[here] = self.permutation(epoch)[offsets[here]]
        return indices if self.rows is None else self.rows[indices]

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's ``(float32 inputs [b, *shape], int64 labels [b])`` for ``iteration``
        (``[b, 3, 32, 32]`` images for the paper's tasks)."""
        indices = self.global_indices(iteration)
        mine = slice(self.rank * self.local_batch_size, (self.rank + 1) * self.local_batch_size)
        labels = self.task.train_labels[indices[mine]]
        images = self.task.train_images[indices[mine]]
        if self.augmenter is None:
            return images.float(), labels
        # Draw for the global batch, so every rank's slice matches the single-process batch.
        params = self.augmenter.sample(self.task.train_labels[indices], generator_for(self.seed, "augment", iteration),
                                       images.shape[1:])
        return self.augmenter.apply(images, params[mine]), labels

    def iterate(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(iteration, images, labels)`` from ``start`` (to ``stop``, exclusive, if given)."""
        iteration = start
        while stop is None or iteration < stop:
            images, labels = self.batch(iteration)
            yield iteration, images, labels
            iteration += 1
