"""Contact sheets: one row of sample images per class, saved as a PNG.

Task images are in linear colour space; for display they are gamma-encoded
back (``x ** (1 / 2.2)``), which is what a screen expects.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .cifar import gamma_encode
from .seeding import generator_for
from .task import Task


def contact_grid(task: Task, per_class: int = 12, split: str = "train", seed: int = 0, pad: int = 2) -> np.ndarray:
    """An ``uint8 [H, W, 3]`` grid: row c holds ``per_class`` random images of class c (display-encoded)."""
    labels = task.labels(split)
    images = task.images(split)
    g = generator_for(seed, "contact-sheet", split)
    tile = 32 + pad
    grid = np.full((task.num_classes * tile + pad, per_class * tile + pad, 3), 255, dtype=np.uint8)
    for c in range(task.num_classes):
        members = (labels == c).nonzero().squeeze(1)
        if len(members) == 0:
            continue
        chosen = members[torch.randperm(len(members), generator=g)[:per_class]]
        shown = (gamma_encode(images[chosen]) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for j, image in enumerate(shown):
            top, left = pad + c * tile, pad + j * tile
            grid[top:top + 32, left:left + 32] = image
    return grid


def save_contact_sheet(task: Task, path: str | Path, per_class: int = 12, split: str = "train", seed: int = 0) -> Path:
    """Draw the contact sheet of ``task`` with class names and save it as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from routegraph.io import atomic_open

    grid = contact_grid(task, per_class, split, seed)
    scale = 1.1 / 34  # inches per tile at 100 dpi: images show at about 3x
    fig, ax = plt.subplots(figsize=(grid.shape[1] * scale + 1.8, grid.shape[0] * scale + 0.6), dpi=100)
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([2 + 34 * c + 16 for c in range(task.num_classes)])
    ax.set_yticklabels([f"{c}: {name}" for c, name in enumerate(task.class_names)])
    ax.set_xticks([])
    ax.set_title(f"{task.name} ({split}): linear images shown gamma-encoded, x^(1/2.2)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
