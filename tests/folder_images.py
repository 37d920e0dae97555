"""Small ImageFolder trees of real PNG/JPEG files at non-32 sizes, written with Pillow."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "emu")  # each class is one dominant colour channel: learnable by construction
COUNTS = {"train": (5, 4, 6), "test": (2, 3, 1), "val": (1, 1, 2)}


def write_image(path: Path, height: int, width: int, rgb=None, seed: int = 0, mode: str = "RGB") -> Path:
    """A noisy image tinted by ``rgb`` (or noise alone), saved in the format of ``path``'s suffix."""
    rng = np.random.default_rng(seed)
    pixels = (rng.random((height, width, 3)) * 60).astype(np.uint8)
    if rgb is not None:
        pixels = np.clip(pixels.astype(int) + np.array(rgb, dtype=int), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def write_folder(root: Path, height: int = 20, width: int = 28, splits=("train", "test", "val"),
                 counts=COUNTS, sizes_vary: bool = False) -> Path:
    """``root/<split>/<class>/<i>.png|jpg``; with ``sizes_vary`` the image heights differ."""
    for split in splits:
        for c, name in enumerate(CLASSES):
            for i in range(counts[split][c]):
                tint = [0, 0, 0]
                tint[c] = 180
                suffix = ".png" if i % 2 == 0 else ".jpg"
                h = height + (i % 3) * 4 if sizes_vary else height
                write_image(root / split / name / f"{i:03d}{suffix}", h, width, tint, seed=len(split) * 100 + c * 10 + i)
    return root
