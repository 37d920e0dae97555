"""Augmentation invariants: shapes, mean-colour fill, flips only where allowed, shift range."""
from __future__ import annotations

import pytest
import torch

from routegraph.data import AugmentParams, Augmenter
from routegraph.errors import ConfigError


def reference_augment(image: torch.Tensor, dy: int, dx: int, flip: bool) -> torch.Tensor:
    """Slow per-pixel definition: flip, then shift by (dy, dx), fill with the mean colour."""
    source = image.flip(-1) if flip else image
    _, height, width = image.shape
    out = image.mean(dim=(1, 2))[:, None, None].expand_as(image).clone()
    for y in range(height):
        for x in range(width):
            if 0 <= y - dy < height and 0 <= x - dx < width:
                out[:, y, x] = source[:, y - dy, x - dx]
    return out


def test_matches_the_per_pixel_definition():
    g = torch.Generator().manual_seed(1)
    images = torch.rand(12, 3, 32, 32, generator=g)
    params = AugmentParams(
        shifts=torch.tensor([[-4, -4], [4, 4], [0, 0], [-4, 3], [2, -1], [0, 4], [4, 0], [-3, -3], [1, 2], [0, 0], [3, -4], [-1, 1]]),
        flips=torch.tensor([True, False] * 6),
    )
    out = Augmenter([True]).apply(images, params)
    for i in range(len(images)):
        dy, dx = params.shifts[i].tolist()
        torch.testing.assert_close(out[i], reference_augment(images[i], dy, dx, bool(params.flips[i])))


def test_shapes_dtype_and_float16_input():
    augment = Augmenter([True, False])
    labels = torch.tensor([0, 1, 0, 1, 1])
    images = torch.rand(5, 3, 32, 32)
    out = augment(images.half(), labels, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.float32
    assert augment(images[:0], labels[:0], torch.Generator()).shape == (0, 3, 32, 32)


def test_fill_colour_is_the_image_mean():
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(2)) ** 2.2
    shifts = torch.tensor([[4, 4], [-4, -4], [4, -4], [-4, 4], [0, 3], [-2, 0]])
    out = Augmenter([False]).apply(images, AugmentParams(shifts, torch.zeros(6, dtype=torch.bool)))
    means = images.mean(dim=(2, 3))
    for i, (dy, dx) in enumerate(shifts.tolist()):
        uncovered = torch.ones(32, 32, dtype=torch.bool)
        uncovered[max(dy, 0):32 + min(dy, 0), max(dx, 0):32 + min(dx, 0)] = False
        assert int(uncovered.sum()) == 32 * 32 - (32 - abs(dy)) * (32 - abs(dx))
        filled = out[i][:, uncovered]  # [3, n_uncovered]
        torch.testing.assert_close(filled, means[i][:, None].expand_as(filled))


def test_flips_only_for_symmetric_classes_and_about_half_of_them():
    augment = Augmenter([False, True, False], max_shift=0)
    g = torch.Generator().manual_seed(3)
    images = torch.rand(3000, 1, 4, 8, generator=g)  # asymmetric content
    labels = torch.randint(0, 3, (3000,), generator=g)
    out = augment(images, labels, g)
    flipped = (out == images.flip(-1)).flatten(1).all(1)
    unchanged = (out == images).flatten(1).all(1)
    assert bool((flipped ^ unchanged).all())  # each image is exactly one of the two
    assert not bool(flipped[labels != 1].any())
    rate = flipped[labels == 1].float().mean().item()
    assert 0.45 < rate < 0.55


def test_shift_distribution_covers_the_range_uniformly():
    augment = Augmenter([True], max_shift=4)
    params = augment.sample(torch.zeros(9000, dtype=torch.long), torch.Generator().manual_seed(4))
    for axis in range(2):
        counts = torch.bincount(params.shifts[:, axis] + 4, minlength=9)
        assert len(counts) == 9 and int(counts.min()) > 850 and int(counts.max()) < 1150  # 1000 expected
    assert int(params.shifts.min()) == -4 and int(params.shifts.max()) == 4


def test_shifts_observed_in_the_images():
    """Recover each image's applied shift from its pixels: all 81 (dy, dx) pairs occur."""
    augment = Augmenter([False], max_shift=4)
    n = 2000
    base = torch.arange(32 * 32, dtype=torch.float32).reshape(1, 1, 32, 32).expand(n, 1, 32, 32)
    out = augment(base, torch.zeros(n, dtype=torch.long), torch.Generator().manual_seed(5))
    centre = out[:, 0, 16, 16].long()  # came from (16 - dy, 16 - dx)
    dy, dx = 16 - centre // 32, 16 - centre % 32
    assert set(zip(dy.tolist(), dx.tolist())) == {(a, b) for a in range(-4, 5) for b in range(-4, 5)}


def test_disabled_augmentation_is_identity_and_draws_are_shared():
    images, labels = torch.rand(10, 3, 32, 32), torch.zeros(10, dtype=torch.long)
    off = Augmenter([True], max_shift=0, flip=False)
    assert torch.equal(off(images, labels, torch.Generator().manual_seed(0)), images)
    full = Augmenter([True]).sample(labels, torch.Generator().manual_seed(7))
    no_flip = Augmenter([True], flip=False).sample(labels, torch.Generator().manual_seed(7))
    assert torch.equal(full.shifts, no_flip.shifts) and not bool(no_flip.flips.any())


def test_same_generator_seed_same_output():
    images, labels = torch.rand(16, 3, 32, 32), torch.randint(0, 2, (16,))
    augment = Augmenter([True, True])
    a = augment(images, labels, torch.Generator().manual_seed(9))
    b = augment(images, labels, torch.Generator().manual_seed(9))
    c = augment(images, labels, torch.Generator().manual_seed(10))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_settings():
    with pytest.raises(ConfigError):
        Augmenter([True], max_shift=-1)
    with pytest.raises(ConfigError, match="smaller than the image"):
        Augmenter([True], max_shift=8)(torch.rand(2, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.Generator())
    with pytest.raises(ValueError):
        Augmenter([True])(torch.rand(2, 3, 32, 32), torch.zeros(3, dtype=torch.long), torch.Generator())
