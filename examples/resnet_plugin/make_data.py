"""Write a small image task for the ResNet example: RGB 3x40x40 images of four patterns.

    python examples/resnet_plugin/make_data.py --out images.npz

Classes: horizontal bars, vertical bars, a disk, a ring, each in a random tint over noise.
The contrast of each image is drawn between 0.05 (hard: close to the noise) and 0.8
(easy), so a routed network has something to decide: stop early on the clear ones.
Deterministic for a given --seed. Keys: x_train, y_train, x_test, y_test, class_names
(routegraph's npz:PATH format, docs/data.md).
"""
from __future__ import annotations

import argparse

import numpy as np

CLASSES = ("bars-h", "bars-v", "disk", "ring")
SIZE = 40


def images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(x float32 [n, 3, 40, 40] in [0, 1], y int64 [n])``, classes in turn."""
    y = np.arange(n) % len(CLASSES)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    x = np.empty((n, 3, SIZE, SIZE), np.float32)
    for i, label in enumerate(y):
        freq, phase = rng.uniform(3, 6), rng.uniform(0, 2 * np.pi)
        cy, cx, radius = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
        distance = np.hypot(yy - cy, xx - cx)
        pattern = [np.sin(2 * np.pi * freq * yy + phase) > 0, np.sin(2 * np.pi * freq * xx + phase) > 0,
                   distance < radius, np.abs(distance - radius) < 0.05][label]
        tint = rng.uniform(0.3, 1.0, size=(3, 1, 1))
        contrast = rng.uniform(0.05, 0.8)
        noise = rng.normal(0.0, 0.15, size=(3, SIZE, SIZE))
        x[i] = np.clip(0.5 + contrast * tint * (pattern - 0.5) + noise, 0, 1)
    return x, y.astype(np.int64)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="images.npz", help="the .npz to write")
    parser.add_argument("--train", type=int, default=800, help="training images")
    parser.add_argument("--test", type=int, default=200, help="test images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = images(args.train, rng)
    x_test, y_test = images(args.test, rng)
    np.savez_compressed(args.out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                        class_names=np.array(CLASSES))
    print(f"wrote {args.out}: {len(y_train)} training and {len(y_test)} test images of 3x{SIZE}x{SIZE}, "
          f"classes {', '.join(CLASSES)}")


if __name__ == "__main__":
    main()
