"""Augmentation: exact per-pixel oracles at any size, the scaled shift range, flips per class,
the off switch, non-image inputs, and the paper's 32 px results unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from routegraph.data import AugmentParams, Augmenter
from routegraph.data.augment import shift_range
from routegraph.errors import ConfigError

SIZES = [(32, 32), (20, 28), (64, 64)]


def brute_force(image: np.ndarray, dy: int, dx: int, flip: bool) -> np.ndarray:
    """Per-pixel definition in numpy: flip, then output (y, x) = source (y - dy, x - dx); uncovered
    pixels get the image's per-channel mean colour."""
    channels, height, width = image.shape
    mean = image.astype(np.float64).mean(axis=(1, 2))
    out = np.empty((channels, height, width))
    for c in range(channels):
        for y in range(height):
            for x in range(width):
                sy, sx = y - dy, x - dx
                if 0 <= sy < height and 0 <= sx < width:
                    out[c, y, x] = image[c, sy, width - 1 - sx if flip else sx]
                else:
                    out[c, y, x] = mean[c]
    return out


class OldAugmenter:
    """The implementation before shifts scaled with the image (git 1cc3a6c), copied as the oracle
    for the paper's 32x32 setting."""

    def __init__(self, flip_symmetric, max_shift=4, flip=True):
        self.flip_symmetric = torch.tensor([bool(f) for f in flip_symmetric], dtype=torch.bool)
        self.max_shift, self.flip = int(max_shift), bool(flip)

    def sample(self, labels, generator):
        n = len(labels)
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (n, 2), generator=generator)
        coin = torch.rand(n, generator=generator) < 0.5
        flips = coin & self.flip_symmetric[labels.cpu()] if self.flip else torch.zeros(n, dtype=torch.bool)
        return AugmentParams(shifts, flips)

    def apply(self, images, params):
        images = images.float()
        n, channels, height, width = images.shape
        dy, dx = params.shifts[:, 0, None], params.shifts[:, 1, None]
        src_y = torch.arange(height)[None, :] - dy
        src_x = torch.arange(width)[None, :] - dx
        valid = ((src_y >= 0) & (src_y < height))[:, :, None] & ((src_x >= 0) & (src_x < width))[:, None, :]
        src_x = torch.where(params.flips[:, None], width - 1 - src_x, src_x)
        flat = src_y.clamp(0, height - 1)[:, :, None] * width + src_x.clamp(0, width - 1)[:, None, :]
        gathered = images.reshape(n, channels, height * width).gather(
            2, flat.reshape(n, 1, height * width).expand(n, channels, height * width)
        ).reshape(n, channels, height, width)
        mean_colour = images.mean(dim=(2, 3))[:, :, None, None]
        return torch.where(valid[:, None], gathered, mean_colour)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("height,width", SIZES)
def test_sampled_augmentation_matches_the_per_pixel_definition(height, width, channels):
    g = torch.Generator().manual_seed(height * 100 + width + channels)
    n = 4
    images = torch.rand(n, channels, height, width, generator=g)
    labels = torch.tensor([0, 1, 0, 1])
    augment = Augmenter([True, True])
    params = augment.sample(labels, g, images.shape[1:])
    # the extremes too: the largest shifts of this size, both signs
    sy, sx = shift_range(height, width)
    params = AugmentParams(torch.cat([params.shifts, torch.tensor([[sy, -sx], [-sy, sx]])]),
                           torch.cat([params.flips, torch.tensor([True, False])]))
    images = torch.cat([images, images[:2]])
    out = augment.apply(images, params)
    assert out.shape == images.shape and out.dtype == torch.float32
    for i in range(len(images)):
        dy, dx = params.shifts[i].tolist()
        expected = brute_force(images[i].numpy(), dy, dx, bool(params.flips[i]))
        np.testing.assert_allclose(out[i].numpy(), expected, rtol=0, atol=1e-6)


def test_the_paper_setting_gives_the_same_images_as_before():
    """32x32 RGB, max_shift 4: same generator -> same parameters and bit-identical images."""
    g = torch.Generator().manual_seed(11)
    images = torch.rand(64, 3, 32, 32, generator=g).half()  # tasks store float16
    labels = torch.randint(0, 10, (64,), generator=g)
    flags = [True, False] * 5
    for seed in range(3):
        old = OldAugmenter(flags).sample(labels, torch.Generator().manual_seed(seed))
        new = Augmenter(flags).sample(labels, torch.Generator().manual_seed(seed), (3, 32, 32))
        assert torch.equal(old.shifts, new.shifts) and torch.equal(old.flips, new.flips)
        assert torch.equal(OldAugmenter(flags).apply(images, old), Augmenter(flags).apply(images, new))
        old_images = OldAugmenter(flags).apply(images, OldAugmenter(flags).sample(labels, torch.Generator().manual_seed(seed)))
        assert torch.equal(Augmenter(flags)(images, labels, torch.Generator().manual_seed(seed)), old_images)


@pytest.mark.parametrize("height,width,sy,sx", [(32, 32, 4, 4), (64, 64, 8, 8), (128, 128, 16, 16), (20, 28, 3, 4),
                                                (16, 48, 2, 6), (8, 8, 1, 1), (4, 4, 1, 1), (1, 12, 0, 2)])
def test_shift_range_scales_with_each_side(height, width, sy, sx):
    """±4 px at 32 px -> ±round(4 H / 32) vertically, ±round(4 W / 32) horizontally, halves rounded up
    (20 px: 2.5 -> 3; 28 px: 3.5 -> 4); the sampled shifts reach both ends and never pass them."""
    assert shift_range(height, width) == (sy, sx)
    params = Augmenter([True]).sample(torch.zeros(4000, dtype=torch.long), torch.Generator().manual_seed(height + width),
                                      (1, height, width))
    for axis, bound in enumerate((sy, sx)):
        assert int(params.shifts[:, axis].min()) == -bound and int(params.shifts[:, axis].max()) == bound


def test_shift_distribution_covers_the_range_uniformly():
    params = Augmenter([True]).sample(torch.zeros(9000, dtype=torch.long), torch.Generator().manual_seed(4), (3, 32, 32))
    for axis in range(2):
        counts = torch.bincount(params.shifts[:, axis] + 4, minlength=9)
        assert len(counts) == 9 and int(counts.min()) > 850 and int(counts.max()) < 1150  # 1000 expected
    non_square = Augmenter([True]).sample(torch.zeros(9000, dtype=torch.long), torch.Generator().manual_seed(4),
                                          (3, 16, 48))  # ±2 vertically (5 values), ±6 horizontally (13)
    assert torch.bincount(non_square.shifts[:, 0] + 2).min() > 1600  # 1800 expected
    assert torch.bincount(non_square.shifts[:, 1] + 6, minlength=13).min() > 580  # 692 expected


def test_shifts_observed_in_the_images():
    """Recover each image's applied shift from its pixels: every (dy, dx) pair occurs, at 20x28."""
    n, height, width = 4000, 20, 28
    base = torch.arange(height * width, dtype=torch.float32).reshape(1, 1, height, width).expand(n, 1, height, width)
    out = Augmenter([False])(base, torch.zeros(n, dtype=torch.long), torch.Generator().manual_seed(5))
    centre = out[:, 0, 10, 14].long()  # came from (10 - dy, 14 - dx)
    dy, dx = 10 - centre // width, 14 - centre % width
    assert set(zip(dy.tolist(), dx.tolist())) == {(a, b) for a in range(-3, 4) for b in range(-4, 5)}


def test_fill_colour_is_the_image_mean():
    images = torch.rand(6, 1, 20, 28, generator=torch.Generator().manual_seed(2)) ** 2.2
    shifts = torch.tensor([[3, 4], [-3, -4], [3, -4], [-3, 4], [0, 3], [-2, 0]])
    out = Augmenter([False]).apply(images, AugmentParams(shifts, torch.zeros(6, dtype=torch.bool)))
    for i, (dy, dx) in enumerate(shifts.tolist()):
        uncovered = torch.ones(20, 28, dtype=torch.bool)
        uncovered[max(dy, 0):20 + min(dy, 0), max(dx, 0):28 + min(dx, 0)] = False
        assert int(uncovered.sum()) == 20 * 28 - (20 - abs(dy)) * (28 - abs(dx))
        torch.testing.assert_close(out[i, 0][uncovered], images[i, 0].mean().expand(int(uncovered.sum())))


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
    assert 0.45 < rate < 0.55  # binomial(~1000, 0.5): sd 0.016


def test_off_switches_give_the_identity_and_share_the_draws():
    for shape in [(3, 32, 32), (1, 20, 28)]:
        images, labels = torch.rand(10, *shape), torch.zeros(10, dtype=torch.long)
        off = Augmenter([True], max_shift=0, flip=False)
        assert torch.equal(off(images, labels, torch.Generator().manual_seed(0)), images)
        full = Augmenter([True]).sample(labels, torch.Generator().manual_seed(7), shape)
        no_flip = Augmenter([True], flip=False).sample(labels, torch.Generator().manual_seed(7), shape)
        assert torch.equal(full.shifts, no_flip.shifts) and not bool(no_flip.flips.any())


def test_the_training_setting_switches_augmentation_off():
    """``augment: false`` (``--no-augment``) gives the task's images unchanged; it must be a boolean."""
    from routegraph.cli.main import build_parser
    from routegraph.cli.options import train_config_from_args
    from routegraph.data import BatchStream, load_task
    from routegraph.train.config import TrainConfig

    args = build_parser("train").parse_args(["specs/tiny_chain.yaml", "--out", "unused", "--no-augment"])
    assert train_config_from_args(args).augment is False
    task = load_task("synthetic", n_train=40, n_test=4)
    stream = BatchStream(task, batch_size=8, seed=0, augment=TrainConfig(augment=False).augment)
    images, _ = stream.batch(0)
    assert torch.equal(images, task.train_images[stream.global_indices(0)].float())
    for bad in ["no", 0, None]:  # a string or a number is not an on/off setting
        with pytest.raises(ConfigError, match="augment must be true or false"):
            TrainConfig(augment=bad)
    bools = [name for name, f in TrainConfig.model_fields.items() if isinstance(f.default, bool)]
    assert "augment" in bools and "fast" in bools
    for name in bools:
        with pytest.raises(ConfigError, match=f"{name} must be true or false"):
            TrainConfig(**{name: "yes"})


@pytest.mark.parametrize("shape", [(7,), (5, 6)])
def test_inputs_that_are_not_images_pass_through_and_draw_nothing(shape):
    g = torch.Generator().manual_seed(8)
    inputs, labels = torch.rand(6, *shape, generator=g), torch.tensor([0, 1] * 3)
    augment = Augmenter([True, True])
    state = g.get_state()
    out = augment(inputs, labels, g)
    assert torch.equal(out, inputs) and out.dtype == torch.float32
    assert torch.equal(g.get_state(), state)  # no random numbers used
    params = augment.sample(labels, g, shape)
    assert not bool(params.shifts.any()) and not bool(params.flips.any())


def test_shapes_dtype_and_float16_input():
    augment = Augmenter([True, False])
    labels = torch.tensor([0, 1, 0, 1, 1])
    for shape in [(3, 32, 32), (1, 20, 28)]:
        images = torch.rand(5, *shape)
        out = augment(images.half(), labels, torch.Generator().manual_seed(0))
        assert out.shape == images.shape and out.dtype == torch.float32
        assert augment(images[:0], labels[:0], torch.Generator()).shape == (0, *shape)


def test_same_generator_seed_same_output():
    for shape in [(3, 32, 32), (1, 20, 28), (3, 64, 64)]:
        images, labels = torch.rand(16, *shape), torch.randint(0, 2, (16,))
        augment = Augmenter([True, True])
        a = augment(images, labels, torch.Generator().manual_seed(9))
        b = augment(images, labels, torch.Generator().manual_seed(9))
        c = augment(images, labels, torch.Generator().manual_seed(10))
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_settings():
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match="max_shift"):
            Augmenter([True], max_shift=bad)
    with pytest.raises(ConfigError, match="smaller than the image"):  # ±8 px at 8 px
        Augmenter([True], max_shift=32)(torch.rand(2, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.Generator())
    with pytest.raises(ValueError):
        Augmenter([True])(torch.rand(2, 3, 32, 32), torch.zeros(3, dtype=torch.long), torch.Generator())
    with pytest.raises(ValueError, match="flip flags for 2 classes"):
        Augmenter([True, False])(torch.rand(2, 3, 32, 32), torch.tensor([0, 2]), torch.Generator())
