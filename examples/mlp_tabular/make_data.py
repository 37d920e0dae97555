"""Write a small tabular task for the MLP example: 10 features, 4 classes, some easy, some hard.

    python examples/mlp_tabular/make_data.py --out tabular.npz

- ``low`` and ``high`` are separable on feature 0 alone (about -3 and +3; the other
  classes sit near 0): one linear layer decides them.
- ``even`` and ``odd`` share feature 0 near 0 and differ by the sign of
  feature 1 x feature 2 (an XOR: no single feature, and no linear function of
  the features, tells them apart), which takes a deeper network.
- Features 3 to 9 are noise.

So a routed network can stop early on the easy half and spend its deeper layers
on the hard half. Deterministic for a given --seed. Keys: x_train, y_train,
x_test, y_test, class_names (routegraph's npz:PATH format, docs/data.md).
"""
from __future__ import annotations

import argparse

import numpy as np

CLASSES = ("low", "high", "even", "odd")
FEATURES = 10


def rows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(x float32 [n, 10], y int64 [n])``, classes in turn."""
    y = np.arange(n) % len(CLASSES)
    x = rng.normal(size=(n, FEATURES))
    x[:, 0] = np.select([y == 0, y == 1], [-3.0, 3.0], 0.0) + rng.normal(0, 0.5, n)
    # the hard pair: |x1|, |x2| away from 0, and sign(x1 * x2) = +1 (even) or -1 (odd)
    a, b = rng.uniform(0.3, 2.0, n) * rng.choice([-1, 1], n), rng.uniform(0.3, 2.0, n)
    hard = y >= 2
    x[hard, 1] = a[hard]
    x[hard, 2] = np.where(y[hard] == 2, 1, -1) * np.sign(a[hard]) * b[hard]
    return x.astype(np.float32), y.astype(np.int64)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tabular.npz", help="the .npz to write")
    parser.add_argument("--train", type=int, default=2000, help="training rows")
    parser.add_argument("--test", type=int, default=500, help="test rows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = rows(args.train, rng)
    x_test, y_test = rows(args.test, rng)
    np.savez(args.out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=np.array(CLASSES))
    print(f"wrote {args.out}: {len(y_train)} training and {len(y_test)} test rows of {FEATURES} features, "
          f"classes {', '.join(CLASSES)}")


if __name__ == "__main__":
    main()
