"""The built-in offline task: determinism, sizes, and its easy/hard difficulty mix.

The difficulty mix is checked by construction first (what gives each easy class
away, that the hard classes share their global statistics and differ only in a
long-range arrangement of five dots), then by short trainings whose thresholds
are set from margins measured over several seeds with oneDNN on and off
(another CPU's kernels change the trajectory about as much as another seed).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from routegraph.data import load_task
from routegraph.data.synthetic import (
    CLASS_NAMES, DOTS, EASY_CLASSES, EASY_COLORS, FLIP_SYMMETRIC, LINE_ANGLES_DEG, _dot_positions, render_hard,
)
from routegraph.errors import ConfigError


def test_deterministic_per_seed_and_sizes_configurable():
    a = load_task("synthetic", n_train=120, n_test=50, seed=4)
    b = load_task("synthetic", n_train=120, n_test=50, seed=4)
    c = load_task("synthetic", n_train=120, n_test=50, seed=5)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    assert not torch.equal(a.train_images, c.train_images)
    assert not torch.equal(a.train_images[:50], a.test_images)  # train and test are separate streams
    assert a.train_images.shape == (120, 3, 32, 32) and a.test_images.shape == (50, 3, 32, 32)
    assert a.counts("train") == [12] * 10 and a.counts("test") == [5] * 10
    assert float(a.train_images.min()) >= 0 and float(a.train_images.max()) <= 1
    assert a.class_names == CLASS_NAMES and a.flip_symmetric == FLIP_SYMMETRIC


def test_bad_options():
    with pytest.raises(ConfigError, match="unknown option"):
        load_task("synthetic", n_trian=10)
    with pytest.raises(ConfigError, match=r"n_train must be an integer in \[1, 10000000\] \(got 0\)"):
        load_task("synthetic", n_train=0)
    with pytest.raises(ConfigError, match=r"clutter must be an integer in \[0, 1000\] \(got -1\)"):
        load_task("synthetic", clutter=-1)
    assert load_task("synthetic", n_train=10, n_test=10, clutter=0).num_classes == 10


def test_diagonal_flips_into_antidiagonal():
    """Why those two classes are marked not flip-symmetric: a flip turns one into the other."""
    g = torch.Generator().manual_seed(0)
    diagonal = CLASS_NAMES.index("dots-diagonal")
    images = render_hard(diagonal, 1, g)  # dots along +45 degrees (down-right)
    dots = images[0].std(0) > 0  # any pixel with colour variation
    assert FLIP_SYMMETRIC[diagonal] is False and FLIP_SYMMETRIC[CLASS_NAMES.index("dots-row")] is True
    assert images.shape == (1, 3, 32, 32) and bool(dots.any())


def test_easy_classes_are_given_away_by_their_colour():
    """Oracle: the mean colour of an image's saturated pixels, matched to the nearest class
    colour, names every easy image's class (colours are >= 0.7 apart, jitter is 0.08)."""
    task = load_task("synthetic", n_train=10, n_test=1000, seed=0)
    x, y = task.test_images, task.test_labels
    saturated = ((x.amax(1) - x.amin(1)) > 0.4).float()[:, None]  # shape pixels; never the grey background
    colour = (x * saturated).sum((2, 3)) / saturated.sum((2, 3)).clamp(min=1)
    guess = torch.cdist(colour, EASY_COLORS).argmin(1)
    easy = y < len(EASY_CLASSES)
    # measured over data seeds 0-4: 1.000 every time
    assert (guess[easy] == y[easy]).float().mean() >= 0.99


def test_hard_classes_share_their_global_statistics():
    """Nearest class centroid on each image's per-channel mean and std is at chance (0.2)
    on the hard classes: what tells them apart is not in any global statistic."""
    task = load_task("synthetic", n_train=1000, n_test=1000, seed=0)

    def features(images):
        return torch.cat([images.mean((2, 3)), images.std((2, 3))], 1)

    train, test = task.train_labels >= len(EASY_CLASSES), task.test_labels >= len(EASY_CLASSES)
    f_train, f_test = features(task.train_images[train]), features(task.test_images[test])
    mean, std = f_train.mean(0), f_train.std(0)
    classes = range(len(EASY_CLASSES), len(CLASS_NAMES))
    centroids = torch.stack([((f_train - mean) / std)[task.train_labels[train] == c].mean(0) for c in classes])
    guess = torch.cdist((f_test - mean) / std, centroids).argmin(1) + len(EASY_CLASSES)
    # measured over data seeds 0-4: 0.194-0.212 (chance 0.2)
    assert (guess == task.test_labels[test]).float().mean() <= 0.3


@pytest.mark.parametrize("kind", range(len(LINE_ANGLES_DEG)))
def test_hard_classes_are_five_evenly_spaced_collinear_dots(kind):
    """Rows, columns and both diagonals: five dots 4.5-6 px apart along the class's angle
    (up to a 0.6 px jitter), inside the image; the scattered class has no such line."""
    points = _dot_positions(len(EASY_CLASSES) + kind, 500, torch.Generator().manual_seed(kind))
    assert points.shape == (500, DOTS, 2)
    angle = torch.tensor(LINE_ANGLES_DEG[kind]).deg2rad()
    direction = torch.stack([angle.cos(), angle.sin()])
    normal = torch.stack([-angle.sin(), angle.cos()])
    along = points @ direction  # [500, 5]
    across = (points - points.mean(1, keepdim=True)) @ normal
    assert float(across.abs().max()) <= 2 * 0.6 * 2 ** 0.5  # two jitters, each up to 0.6 per axis
    gaps = along.diff(dim=1)
    assert float(gaps.min()) >= 4.5 - 2 * 0.6 * 2 ** 0.5 and float(gaps.max()) <= 6.0 + 2 * 0.6 * 2 ** 0.5
    assert float(points.min()) >= 3.0 - 0.6 and float(points.max()) <= 29.0 + 0.6


def _train(model: nn.Module, task, steps: int, seed: int = 0) -> tuple[float, float]:
    """Adam, batch 64; return (accuracy on easy classes, accuracy on hard classes) on the test split."""
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(task.train_labels), (64,), generator=g)
        loss = F.cross_entropy(model(task.train_images[index]), task.train_labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        correct = model(task.test_images).argmax(1) == task.test_labels
    easy = task.test_labels < len(EASY_CLASSES)
    return correct[easy].float().mean().item(), correct[~easy].float().mean().item()


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


@pytest.fixture(scope="module")
def task():
    return load_task("synthetic", n_train=2000, n_test=1000, seed=0)


def test_one_layer_separates_easy_classes_but_not_hard_ones(task):
    """A one-conv-layer net gets the easy classes and stays at about chance (0.2) on the hard ones."""
    one_layer = nn.Sequential(*_conv(3, 16), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 10))
    easy, hard = _train(one_layer, task, steps=100)
    print(f"one layer: easy {easy:.3f} hard {hard:.3f}")
    # measured, training seeds 0-4, oneDNN on and off (AMD EPYC), and Intel AVX-512 (seed 0):
    # easy 1.000 in all 11 runs; hard 0.186-0.224
    assert easy >= 0.95
    assert hard <= 0.3


@pytest.mark.slow
def test_three_layers_learn_the_hard_classes_that_one_layer_does_not(task):
    """Depth helps: a small 3-layer net (reading the image at half resolution) trained
    400 steps beats the one-layer net on the hard classes.

    Slow (~5 s): the by-construction tests above say why; this measures it."""
    deeper = nn.Sequential(
        nn.AvgPool2d(2), *_conv(3, 16), nn.MaxPool2d(2), *_conv(16, 32), nn.MaxPool2d(2), *_conv(32, 32),
        nn.Flatten(), nn.Linear(512, 10),
    )
    _, hard = _train(deeper, task, steps=400)
    print(f"three layers: hard {hard:.3f}")
    # measured, training seeds 0-4, oneDNN on and off (AMD EPYC): hard 0.374-0.472 (mean 0.439);
    # the one-layer net: 0.186-0.224. At 150 steps the gain was 0.10-0.22 and failed a 0.1
    # threshold on an Intel AVX-512 machine (0.276 vs 0.208), hence the longer run and:
    assert hard >= 0.28  # 0.09 below the lowest measured, 0.06 above the one-layer net's best
