"""'synthetic': a procedural 32x32 RGB task with a built-in difficulty mix. No files.

Ten classes, in the spirit of the hybrid MNIST/CIFAR set (5 easy + 5 hard):

- **Easy (0-4): flat-colour shapes.** A disk, square, triangle, cross or ring,
  each in its own saturated colour (red, green, blue, yellow, magenta; small
  jitter), on a dark grey background. Colour alone gives the class away, and so
  does the shape, so one conv layer separates them almost perfectly.
- **Hard (5-9): a line of dots among clutter.** Fifteen identical soft dots on
  a randomly coloured, blotchy, noisy background; the dot colour is random too
  (at least 0.4 from the background). Ten dots are scattered at random; the
  other five form the class: a horizontal row, a vertical column, a diagonal
  (down-right), an anti-diagonal (up-right), or - class 'dots-scattered' - just
  five more random dots. Spacing (4.5-6 px), position and jitter are random.
  Every hard image has the same local content (isolated dots) and about the
  same dot density, so one layer sees little difference between them: finding
  five evenly spaced collinear dots among distractors takes features that span
  several dots, i.e. pooling and deeper layers. (Option ``clutter`` sets the
  number of distractors; 0 makes the hard classes much easier.)

Flip symmetry: a horizontal flip turns a diagonal into an anti-diagonal, so
those two classes are not flip-symmetric; every other class is.

Images are in linear colour space in [0, 1], ``float32``. Per-class counts are
balanced (they differ by at most one), order is shuffled, and everything is a
function of ``seed`` (train and test use separate streams).

>>> from routegraph.data.synthetic import generate_synthetic
>>> task = generate_synthetic(n_train=100, n_test=20, seed=3)
>>> task.counts("train")
[10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from routegraph.checks import Bound
from routegraph.errors import ConfigError

from .mnist import draw_color_pairs
from .seeding import generator_for
from .task import Task

EASY_CLASSES = ("disk", "square", "triangle", "cross", "ring")
HARD_CLASSES = ("dots-row", "dots-column", "dots-diagonal", "dots-antidiagonal", "dots-scattered")
CLASS_NAMES = EASY_CLASSES + HARD_CLASSES
FLIP_SYMMETRIC = (True,) * 5 + (True, True, False, False, True)
EASY_COLORS = torch.tensor([
    [0.85, 0.08, 0.08],  # red disk
    [0.10, 0.75, 0.12],  # green square
    [0.10, 0.18, 0.90],  # blue triangle
    [0.90, 0.85, 0.08],  # yellow cross
    [0.85, 0.10, 0.80],  # magenta ring
])
# Dot-line directions (x right, y down) for the row, column, diagonal and anti-diagonal classes.
LINE_ANGLES_DEG = (0.0, 90.0, 45.0, -45.0)
DOTS = 5
DOT_SIGMA = 1.0
SIZE = 32
DEFAULTS = {"n_train": 10000, "n_test": 2000, "clutter": 10}
# 10 million 32x32 RGB float32 images are 123 GB: more cannot be held in memory at once. Clutter
# beyond 1000 dots covers every pixel of a 32x32 image many times over.
MAX_IMAGES = 10_000_000
OPTION_BOUNDS = {"n_train": Bound(int, 1, hi=MAX_IMAGES, hi_inclusive=True),
                 "n_test": Bound(int, 1, hi=MAX_IMAGES, hi_inclusive=True),
                 "clutter": Bound(int, 0, hi=1000, hi_inclusive=True)}


def _grid() -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``y, x`` of shape ``[1, 32, 32]``."""
    coords = torch.arange(SIZE, dtype=torch.float32) + 0.5
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return y[None], x[None]


def _uniform(n: int, low: float, high: float, g: torch.Generator, *shape: int) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, *shape, generator=g)


def _shape_sdf(shape_index: int, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Signed distance (pixels, negative inside) to an easy class's shape of size ``r``."""
    if shape_index == 0:  # disk
        return torch.sqrt(dx**2 + dy**2) - r
    if shape_index == 1:  # square
        return torch.maximum(dx.abs(), dy.abs()) - 0.85 * r
    if shape_index == 2:  # equilateral triangle, apex up; inradius r/2
        normals = [(0.0, 1.0), (-math.sqrt(3) / 2, -0.5), (math.sqrt(3) / 2, -0.5)]
        sides = [nx * dx + ny * dy for nx, ny in normals]
        return torch.stack(sides).amax(0) - 0.5 * r
    if shape_index == 3:  # plus-shaped cross with arms of half-width 0.3 r
        w = 0.3 * r
        bar_h = torch.maximum(dx.abs() - r, dy.abs() - w)
        bar_v = torch.maximum(dy.abs() - r, dx.abs() - w)
        return torch.minimum(bar_h, bar_v)
    # ring
    return (torch.sqrt(dx**2 + dy**2) - 0.78 * r).abs() - 0.22 * r


def render_easy(class_index: int, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` images of easy class ``class_index`` (0-4): ``float32 [n, 3, 32, 32]``."""
    y, x = _grid()
    centre = 16.0 + _uniform(n, -3.0, 3.0, g, 2)
    r = _uniform(n, 8.0, 11.0, g)[:, None, None]
    sdf = _shape_sdf(class_index, x - centre[:, 0, None, None], y - centre[:, 1, None, None], r)
    alpha = (0.5 - sdf).clamp(0.0, 1.0)[:, None]  # one-pixel anti-aliased edge
    colour = (EASY_COLORS[class_index] + _uniform(n, -0.08, 0.08, g, 3)).clamp(0, 1)
    grey = _uniform(n, 0.02, 0.3, g, 1) + _uniform(n, -0.03, 0.03, g, 3)
    image = grey[:, :, None, None] * (1 - alpha) + colour[:, :, None, None] * alpha
    return image + 0.03 * torch.randn(n, 3, SIZE, SIZE, generator=g)


def _dot_positions(class_index: int, n: int, g: torch.Generator) -> torch.Tensor:
    """Dot centres ``[n, DOTS, 2]`` (x, y) for hard class ``class_index`` (5-9)."""
    kind = class_index - len(EASY_CLASSES)
    if kind == 4:  # scattered
        return _uniform(n, 3.0, 29.0, g, DOTS, 2)
    angle = math.radians(LINE_ANGLES_DEG[kind])
    direction = torch.tensor([math.cos(angle), math.sin(angle)])
    spacing = _uniform(n, 4.5, 6.0, g)
    steps = torch.arange(DOTS, dtype=torch.float32) - (DOTS - 1) / 2
    half_extent = spacing[:, None] * (DOTS - 1) / 2 * direction.abs()  # [n, 2]
    room = 13.0 - half_extent  # centre may move this far from 16 and keep dots in [3, 29]
    centre = 16.0 + (2 * torch.rand(n, 2, generator=g) - 1) * room
    offsets = steps[None, :, None] * spacing[:, None, None] * direction
    jitter = _uniform(n, -0.6, 0.6, g, DOTS, 2)
    return centre[:, None, :] + offsets + jitter


def render_hard(class_index: int, n: int, g: torch.Generator, clutter: int = DEFAULTS["clutter"]) -> torch.Tensor:
    """``n`` images of hard class ``class_index`` (5-9) with ``clutter`` extra random dots."""
    pos = torch.cat([_dot_positions(class_index, n, g), _uniform(n, 1.0, 31.0, g, clutter, 2)], dim=1)
    # A Gaussian dot is separable: sum_k gy_k(y) gx_k(x) is one batched matmul [n,32,k] @ [n,k,32].
    centres = torch.arange(SIZE, dtype=torch.float32) + 0.5
    gx = torch.exp(-((centres - pos[:, :, 0, None]) ** 2) / (2 * DOT_SIGMA**2))  # [n, k, 32]
    gy = torch.exp(-((centres - pos[:, :, 1, None]) ** 2) / (2 * DOT_SIGMA**2))
    alpha = torch.bmm(gy.transpose(1, 2), gx).clamp_(max=1.0)[:, None]  # [n, 1, 32, 32]
    background, dot = draw_color_pairs(n, g, min_distance=0.4)
    blotches = F.interpolate(0.25 * torch.rand(n, 3, 4, 4, generator=g) - 0.125, size=(SIZE, SIZE),
                             mode="bilinear", align_corners=False)
    image = (background[:, :, None, None] + blotches) * (1 - alpha) + dot[:, :, None, None] * alpha
    return image + 0.05 * torch.randn(n, 3, SIZE, SIZE, generator=g)


def balanced_labels(n: int, num_classes: int, g: torch.Generator) -> torch.Tensor:
    """``n`` labels, per-class counts differing by at most one, in random order."""
    return (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]


def generate_split(n: int, seed: int, split: str, clutter: int = DEFAULTS["clutter"]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``float32 [n, 3, 32, 32]`` and labels ``int64 [n]`` of one split."""
    labels = balanced_labels(n, len(CLASS_NAMES), generator_for(seed, "synthetic-labels", split))
    images = torch.empty(n, 3, SIZE, SIZE)
    for c in range(len(CLASS_NAMES)):
        # A stream per (split, class): a class's images depend only on its own count.
        g = generator_for(seed, "synthetic", split, c)
        where = (labels == c).nonzero().squeeze(1)
        for start in range(0, len(where), 2000):
            chunk = where[start:start + 2000]
            if c < len(EASY_CLASSES):
                images[chunk] = render_easy(c, len(chunk), g).clamp_(0.0, 1.0)
            else:
                images[chunk] = render_hard(c, len(chunk), g, clutter).clamp_(0.0, 1.0)
    return images, labels


def generate_synthetic(seed: int = 0, **options) -> Task:
    """The 'synthetic' task.

    Options: ``n_train`` (default 10000), ``n_test`` (default 2000), ``clutter``
    (default 10): random distractor dots added to every hard image; 0 leaves the
    five arranged dots alone, which makes the hard classes much easier.
    """
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for task 'synthetic' (known: {', '.join(DEFAULTS)})")
    sizes = {**DEFAULTS, **options}
    for key, value in sizes.items():
        OPTION_BOUNDS[key].check(value, f"synthetic option {key}")
    train = generate_split(sizes["n_train"], seed, "train", sizes["clutter"])
    test = generate_split(sizes["n_test"], seed, "test", sizes["clutter"])
    task = Task(
        name="synthetic", class_names=CLASS_NAMES, flip_symmetric=FLIP_SYMMETRIC,
        train_images=train[0], train_labels=train[1], test_images=test[0], test_labels=test[1],
        recipe={"seed": seed, **sizes},
    )
    task.verify()
    return task
