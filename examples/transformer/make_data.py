"""A tiny synthetic sequence task for specs/transformer_routed.yaml, written as an ``.npz``.

Each example is ``[T, D]`` Gaussian noise in which one token is replaced by one of
``classes`` fixed motifs (unit vectors scaled by ``strength``) at a random position;
the label is which motif occurs. Deterministic: the same arguments give the same
arrays. Nothing here is committed data; run it to make the file::

    python examples/transformer/make_data.py /tmp/seq.npz
    python -m routegraph train specs/transformer_routed.yaml --data npz:/tmp/seq.npz ...

>>> x, y = sequences(8, seed=0)
>>> x.shape, y.tolist()
((8, 16, 32), [0, 1, 2, 3, 0, 1, 2, 3])
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

T, D, CLASSES = 16, 32, 4


def sequences(n: int, seed: int, tokens: int = T, dim: int = D, classes: int = CLASSES,
              strength: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """``(x float32 [n, tokens, dim], y int64 [n])``, labels in turn (0, 1, ..., classes - 1, 0, ...)."""
    motifs = np.random.default_rng(12345).normal(size=(classes, dim))  # the same motifs for every split
    motifs *= strength / np.linalg.norm(motifs, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int64) % classes
    x = rng.normal(size=(n, tokens, dim))
    x[np.arange(n), rng.integers(0, tokens, size=n)] = motifs[y]
    return x.astype(np.float32), y


def arrays(n_train: int = 512, n_test: int = 128) -> dict[str, np.ndarray]:
    """The keys of the task file (``npz:PATH``, docs/data.md): train and test splits, class names."""
    x_train, y_train = sequences(n_train, seed=1)
    x_test, y_test = sequences(n_test, seed=2)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "class_names": np.array([f"motif{c}" for c in range(CLASSES)])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .npz file to write")
    parser.add_argument("--train", type=int, default=512, help="training examples")
    parser.add_argument("--test", type=int, default=128, help="test examples")
    args = parser.parse_args(argv)
    np.savez(args.out, **arrays(args.train, args.test))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
