"""Small ``.npz`` task files for the tests of ``npz:PATH`` data: Gaussian blobs, separable by construction.

Class ``c`` is centred at ``SEPARATION * e_c`` (a unit vector per class) with unit-variance noise in
every dimension, so the classes are ``SEPARATION / sqrt(2)`` standard deviations apart along the line
between any two centres.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("ant", "bee", "cat")
SEPARATION = 8.0


def blobs(n_per_class: int, shape=(12,), seed: int = 0, classes: int = len(CLASSES)) -> tuple[np.ndarray, np.ndarray]:
    """``(x float32 [n * classes, *shape], y int64)``, classes in turn (0, 1, 2, 0, 1, 2, ...)."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(classes), n_per_class).astype(np.int64)
    x = rng.normal(size=(len(y), int(np.prod(shape)))).astype(np.float32)
    x[np.arange(len(y)), y] += SEPARATION
    return x.reshape(len(y), *shape), y


def arrays(shape=(12,), n_train: int = 40, n_test: int = 10, **extra) -> dict[str, np.ndarray]:
    """The keys of a task file: per class ``n_train`` training and ``n_test`` test examples, class names,
    and ``extra`` keys (a value of None removes that key)."""
    x_train, y_train = blobs(n_train, shape, seed=0)
    x_test, y_test = blobs(n_test, shape, seed=1)
    keys = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "class_names": np.array(CLASSES)}
    keys.update(extra)
    return {k: v for k, v in keys.items() if v is not None}


def write_npz(path: Path, shape=(12,), compressed: bool = False, **extra) -> Path:
    """Write :func:`arrays` to ``path`` with ``numpy.savez`` (or ``savez_compressed``); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, **arrays(shape, **extra))
    return path
