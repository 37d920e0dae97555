"""MNIST: finding and reading the four IDX files, and the reference's digit recipe.

Recipe (reference facts, "Data"): pixels scaled to [0, 1], resized 28 -> 32
bilinearly, then recolored with two random RGB colours ``c0, c1`` uniform in
[0, 1]^3 whose distance is at least 0.3: pixel ``v`` becomes ``c0 + v * (c1 - c0)``.
As in the reference code, ``c1`` alone is redrawn until the pair is far enough apart.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from routegraph.errors import DataError

from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from .paths import find_first

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_SUBDIRS = ("mnist", "MNIST/raw", ".")
MIN_COLOR_DISTANCE = 0.3
HOW_TO_GET_MNIST = (
    "get it with 'routegraph data download mnist --data-dir DIR', or copy the four "
    "IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    "t10k-labels-idx1-ubyte; gzip'd or not) into DIR/mnist/"
)


def mnist_candidates(data_dir: Path, base_name: str) -> list[Path]:
    """Every place a given MNIST file may be, in search order."""
    return [
        Path(data_dir) / sub / (base_name + ext)
        for sub in MNIST_SUBDIRS
        for ext in (".gz", "")
    ]


def find_mnist_file(data_dir: Path, base_name: str) -> Path:
    found = find_first(mnist_candidates(data_dir, base_name))
    if found is None:
        looked = ", ".join(str(Path(data_dir) / sub) for sub in MNIST_SUBDIRS)
        raise DataError(
            f"MNIST file {base_name}[.gz] not found (looked in {looked}); {HOW_TO_GET_MNIST}"
        )
    return found


def mnist_present(data_dir: Path) -> dict[str, Path | None]:
    """Map each MNIST file name to where it was found (None if missing)."""
    names = [name for pair in MNIST_FILES.values() for name in pair]
    return {name: find_first(mnist_candidates(data_dir, name)) for name in names}


def load_mnist_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [n, 28, 28]`` and labels ``int64 [n]`` of one split ('train' or 'test')."""
    images_name, labels_name = MNIST_FILES[split]
    images_path = find_mnist_file(data_dir, images_name)
    labels_path = find_mnist_file(data_dir, labels_name)
    images = read_idx(images_path, IMAGES_MAGIC, (28, 28))
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: {len(labels)} labels but {images_path} has {len(images)} images; "
            f"expected the same count (the files belong to different releases?)"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} found; expected digits 0-9")
    return images, labels.astype(np.int64)


def resize_digits(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``uint8 [n, 28, 28]`` -> ``float32 [n, 32, 32]`` in [0, 1], bilinear (half-pixel centres)."""
    gray = _as_float(images).div(255.0)
    return F.interpolate(gray[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0]


def _as_float(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.float()
    return torch.from_numpy(np.asarray(values, dtype=np.float32))  # a writable copy


def draw_color_pairs(
    n: int, generator: torch.Generator, min_distance: float = MIN_COLOR_DISTANCE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour pairs ``c0, c1`` (``float32 [n, 3]``) uniform in [0,1]^3, ``|c1 - c0| >= min_distance``.

    Rejection sampling, vectorised: each round redraws ``c1`` for the pairs still too close.
    """
    c0 = torch.rand(n, 3, generator=generator)
    c1 = torch.rand(n, 3, generator=generator)
    too_close = (c1 - c0).norm(dim=1) < min_distance
    while bool(too_close.any()):
        redraw = too_close.nonzero().squeeze(1)
        c1[redraw] = torch.rand(len(redraw), 3, generator=generator)
        too_close = (c1 - c0).norm(dim=1) < min_distance
    return c0, c1


def recolor(gray: torch.Tensor, c0: torch.Tensor, c1: torch.Tensor) -> torch.Tensor:
    """``gray [n, H, W]`` in [0, 1] -> ``[n, 3, H, W]``: pixel ``v`` becomes ``c0 + v * (c1 - c0)``."""
    return c0[:, :, None, None] + gray[:, None] * (c1 - c0)[:, :, None, None]
