"""Contact sheets: one row of sample images per class, saved as a PNG.

Task images are in linear colour space; for display they are gamma-encoded
back (``x ** (1 / 2.2)``), which is what a screen expects.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from routegraph.errors import DataError

from .cifar import gamma_encode
from .seeding import generator_for
from .task import Task


def contact_grid(task: Task, per_class: int = 12, split: str = "train", seed: int = 0, pad: int = 2) -> np.ndarray:
    """An ``uint8 [H, W, 3]`` grid: row c holds ``per_class`` random images of class c (display-encoded),
    each at the task's image size, separated by ``pad`` white pixels.

    >>> from routegraph.data import load_task
    >>> contact_grid(load_task("synthetic", n_train=100, n_test=10), per_class=3).shape
    (342, 104, 3)
    """
    labels = task.labels(split)
    images = task.view(split)  # rows: only the images shown are read
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise DataError(f"task {task.name!r}: its inputs are {list(images.shape[1:])}, not images [C, H, W] with "
                        "1 or 3 channels; a contact sheet draws images only")
    g = generator_for(seed, "contact-sheet", split)
    height, width = images.shape[2:]
    grid = np.full((task.num_classes * (height + pad) + pad, per_class * (width + pad) + pad, 3), 255, dtype=np.uint8)
    for c in range(task.num_classes):
        members = (labels == c).nonzero().squeeze(1)
        if len(members) == 0:
            continue
        chosen = members[torch.randperm(len(members), generator=g)[:per_class]]
        shown = (gamma_encode(images[chosen].read()) * 255).round().to(torch.uint8)
        shown = shown.expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()  # grayscale shown as grey RGB
        for j, image in enumerate(shown):
            top, left = pad + c * (height + pad), pad + j * (width + pad)
            grid[top:top + height, left:left + width] = image
    return grid


def save_contact_sheet(task: Task, path: str | Path, per_class: int = 12, split: str = "train", seed: int = 0) -> Path:
    """Draw the contact sheet of ``task`` with class names and save it as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from routegraph.io import atomic_open

    pad = 2
    grid = contact_grid(task, per_class, split, seed, pad)
    height = task.view(split).shape[2]
    scale = 1.1 / 34 * min(1.0, 32 / max(task.view(split).shape[2:]))  # 32 px shows at about 3x; large images less
    fig, ax = plt.subplots(figsize=(grid.shape[1] * scale + 1.8, grid.shape[0] * scale + 0.6), dpi=100)
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([pad + (height + pad) * c + height / 2 for c in range(task.num_classes)])
    ax.set_yticklabels([f"{c}: {name}" for c, name in enumerate(task.class_names)])
    ax.set_xticks([])
    ax.set_title(f"{task.name} ({split}): linear images shown gamma-encoded, x^(1/2.2)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
