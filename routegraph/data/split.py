"""The validation split: held-out training images for periodic evaluation and ``calibrate``.

A task's validation images are its own ``val`` split when the source has one,
else a stratified slice of its training split. The slice is a pure function of
the training labels, the fraction, the cap (the run's ``val_fraction`` and
``val_max`` settings, defaults in :class:`~routegraph.train.TrainConfig`) and a fixed seed (:data:`VAL_SEED`,
not the run's seed: every run of a task holds out the same images, so their
validation numbers compare). The training stream skips the slice
(:meth:`routegraph.data.Task.rows`), so training and validation never overlap;
the test split is left to ``evaluate``.

>>> import torch
>>> labels = torch.arange(4).repeat_interleave(25)          # 4 classes, 25 images each
>>> held = stratified_holdout(labels, 0.2)
>>> len(held), torch.bincount(labels[held]).tolist()
(20, [5, 5, 5, 5])
"""
from __future__ import annotations

import torch

from .seeding import generator_for

VAL_SEED = 0  # fixed: the slice does not depend on the run's seed


def holdout_size(counts: list[int], fraction: float, max_examples: int = 0) -> list[int]:
    """Images to hold out per class: ``fraction`` of all (at most ``max_examples``; 0: no cap), shared
    out in proportion to ``counts`` (largest remainders, so each class is within 1 of its share), and
    never a class's last image (training keeps every class).

    >>> holdout_size([50, 30, 20], 0.1)
    [5, 3, 2]
    >>> holdout_size([900, 100], 0.5, max_examples=100)
    [90, 10]
    >>> holdout_size([1, 7], 0.5)
    [0, 3]
    """
    total = sum(counts)
    want = int(round(fraction * total))
    if max_examples:
        want = min(want, max_examples)
    if not total or not want:
        return [0] * len(counts)
    shares = [want * c / total for c in counts]
    sizes = [int(s) for s in shares]
    by_remainder = sorted(range(len(counts)), key=lambda c: (sizes[c] - shares[c], c))
    for c in by_remainder[: want - sum(sizes)]:
        sizes[c] += 1
    return [min(s, max(c - 1, 0)) for s, c in zip(sizes, counts)]


def stratified_holdout(labels: torch.Tensor, fraction: float, max_examples: int = 0,
                       seed: int = VAL_SEED) -> torch.Tensor:
    """Sorted indices into ``labels`` of the held-out slice (sizes from :func:`holdout_size`): per class,
    a seeded random choice of its images, the same in every process and call.

    >>> import torch
    >>> labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    >>> held = stratified_holdout(labels, 0.5)
    >>> torch.equal(held, stratified_holdout(labels, 0.5)), labels[held].tolist()
    (True, [0, 0, 1, 1, 1])
    """
    labels = labels.long()
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    sizes = holdout_size(torch.bincount(labels, minlength=num_classes).tolist(), fraction, max_examples)
    order = torch.randperm(len(labels), generator=generator_for(seed, "validation"))
    shuffled = labels[order]
    picked = [order[shuffled == c][:n] for c, n in enumerate(sizes) if n]
    return torch.cat(picked).sort().values if picked else torch.zeros(0, dtype=torch.long)

