"""Training-time augmentation: random shifts with mean-colour fill, and flips.

Per image (reference, paper sec. 4.8): a horizontal flip with probability 0.5 if
its class is flip-symmetric, then a shift by integers ``(dy, dx)`` drawn
uniformly from ``[-sy, sy]`` x ``[-sx, sx]``. The range scales with the image:
``max_shift`` pixels at 32 px (the paper's ±4), so ``sy = round(max_shift * H / 32)``
and ``sx = round(max_shift * W / 32)``, rounded half up (:func:`shift_range`).
Pixels uncovered by the shift are filled with the image's own mean colour
(per channel, over that image's pixels), computed in the task's linear
(gamma-decoded) colour space.

Images are ``[n, C, H, W]`` of any size and channel count. Inputs that are not
images (``[n, D]`` or ``[n, A, B]``: one- or two-dimensional per example) pass
through unaugmented and draw nothing from the generator.

Everything is one gather over the whole batch: no per-image Python loop.

>>> import torch
>>> augment = Augmenter(flip_symmetric=[False, True])
>>> images, labels = torch.rand(8, 3, 32, 32), torch.tensor([0, 1] * 4)
>>> augment(images, labels, torch.Generator().manual_seed(0)).shape
torch.Size([8, 3, 32, 32])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from routegraph.checks import NON_NEGATIVE_INT
from routegraph.errors import ConfigError

REFERENCE_SIZE = 32  # the paper's images: max_shift is in pixels at this size


def is_image(example_shape: Sequence[int]) -> bool:
    """Whether per-example inputs of this shape are images ``[C, H, W]`` (and so augmented).

    >>> is_image((1, 20, 28)), is_image((64,)), is_image((16, 16))
    (True, False, False)
    """
    return len(example_shape) == 3


def augmentation_record(example_shape: Sequence[int], requested: bool) -> dict:
    """Whether training augments inputs of ``example_shape`` (``augment`` setting ``requested``), and
    why not, for a run's config.json: shifts and flips are for images only, so they are off,
    whatever the setting, for feature vectors and sequences.

    >>> augmentation_record((12,), True)
    {'applied': False, 'reason': 'inputs of shape [12] are not images [C, H, W]'}
    >>> augmentation_record((2, 20, 28), True)
    {'applied': True}
    """
    if not requested:
        return {"applied": False, "reason": "the augment setting is off (--no-augment)"}
    if not is_image(example_shape):
        return {"applied": False, "reason": f"inputs of shape {list(example_shape)} are not images [C, H, W]"}
    return {"applied": True}


def shift_range(height: int, width: int, max_shift: int = 4) -> tuple[int, int]:
    """``(sy, sx)``: the largest vertical and horizontal shift for an ``height x width`` image.

    ``max_shift`` pixels at 32 px, scaled with each side and rounded half up
    (integer arithmetic, so exact):

    >>> shift_range(32, 32), shift_range(64, 64), shift_range(128, 128), shift_range(20, 28)
    ((4, 4), (8, 8), (16, 16), (3, 4))
    """
    return tuple((2 * max_shift * side + REFERENCE_SIZE) // (2 * REFERENCE_SIZE) for side in (height, width))


@dataclass(frozen=True)
class AugmentParams:
    """The random choices for a batch: ``shifts`` int64 [n, 2] as (dy, dx), ``flips`` bool [n]."""

    shifts: torch.Tensor
    flips: torch.Tensor

    def __getitem__(self, index) -> "AugmentParams":
        return AugmentParams(self.shifts[index], self.flips[index])


class Augmenter:
    """Random shift + flip, vectorised over the batch.

    ``flip_symmetric[c]`` says whether class ``c`` may be flipped (a plain
    per-class list of booleans, e.g. ``Task.flip_symmetric``). ``max_shift`` is
    the shift in pixels at 32 px (scaled with the image, :func:`shift_range`);
    ``max_shift=0`` disables shifts and ``flip=False`` disables flips; the
    random draws are the same either way, so toggling one does not change the
    other's choices. Both off: the identity (training's ``augment`` setting,
    ``--no-augment``, skips the augmenter altogether).
    """

    def __init__(self, flip_symmetric: Sequence[bool], max_shift: int = 4, flip: bool = True):
        NON_NEGATIVE_INT.check(max_shift, "max_shift (pixels at 32 px)")
        self.flip_symmetric = torch.tensor([bool(f) for f in flip_symmetric], dtype=torch.bool)
        self.max_shift = max_shift
        self.flip = bool(flip)

    def shift_range(self, example_shape: Sequence[int]) -> tuple[int, int]:
        """``(sy, sx)`` for images of ``example_shape`` ``[C, H, W]``; a shift must be smaller than the image."""
        height, width = example_shape[-2:]
        sy, sx = shift_range(height, width, self.max_shift)
        if (sy or sx) and (sy >= height or sx >= width):
            raise ConfigError(f"max_shift={self.max_shift} (at 32 px) gives shifts of ±{sy}x{sx} px, which must "
                              f"be smaller than the image ({height}x{width})")
        return sy, sx

    def sample(self, labels: torch.Tensor, generator: torch.Generator, example_shape: Sequence[int]) -> AugmentParams:
        """Draw shifts and flips for inputs of ``example_shape`` (``[C, H, W]``) with these ``labels``.

        Non-image shapes get no shift and no flip, and draw nothing."""
        n = len(labels)
        if not is_image(example_shape):
            return AugmentParams(torch.zeros(n, 2, dtype=torch.long), torch.zeros(n, dtype=torch.bool))
        labels = labels.cpu()
        if n and int(labels.max()) >= len(self.flip_symmetric):
            raise ValueError(f"label {int(labels.max())} but flip flags for {len(self.flip_symmetric)} classes")
        sy, sx = self.shift_range(example_shape)
        if sy == sx:  # one [n, 2] draw: the same shifts as before for the paper's 32x32 images
            shifts = torch.randint(-sy, sy + 1, (n, 2), generator=generator)
        else:
            dy = torch.randint(-sy, sy + 1, (n,), generator=generator)
            shifts = torch.stack([dy, torch.randint(-sx, sx + 1, (n,), generator=generator)], dim=1)
        coin = torch.rand(n, generator=generator) < 0.5
        flips = coin & self.flip_symmetric[labels] if self.flip else torch.zeros(n, dtype=torch.bool)
        return AugmentParams(shifts, flips)

    def apply(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Flip, then shift ``images [n, C, H, W]`` as ``params`` say; returns float32.

        Non-image inputs (``[n, D]``, ``[n, A, B]``) are returned as float32, values unchanged."""
        n = len(images)
        if params.shifts.shape != (n, 2) or params.flips.shape != (n,):
            raise ValueError(f"augmentation parameters for {len(params.flips)} inputs, got {n} inputs")
        images = images.float()
        if not is_image(images.shape[1:]):
            return images
        _, channels, height, width = images.shape
        device = images.device  # parameters are drawn on the CPU; images may live elsewhere
        shifts, flips = params.shifts.to(device), params.flips.to(device)
        dy, dx = shifts[:, 0, None], shifts[:, 1, None]
        # Output pixel (y, x) comes from (y - dy, x - dx) of the flipped image.
        src_y = torch.arange(height, device=device)[None, :] - dy  # [n, H]
        src_x = torch.arange(width, device=device)[None, :] - dx  # [n, W]
        valid = ((src_y >= 0) & (src_y < height))[:, :, None] & ((src_x >= 0) & (src_x < width))[:, None, :]
        src_x = torch.where(flips[:, None], width - 1 - src_x, src_x)
        flat = src_y.clamp(0, height - 1)[:, :, None] * width + src_x.clamp(0, width - 1)[:, None, :]
        gathered = images.reshape(n, channels, height * width).gather(
            2, flat.reshape(n, 1, height * width).expand(n, channels, height * width)
        ).reshape(n, channels, height, width)
        mean_colour = images.mean(dim=(2, 3))[:, :, None, None]
        return torch.where(valid[:, None], gathered, mean_colour)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a batch: ``images [n, C, H, W]``, ``labels [n]`` -> float32 ``[n, C, H, W]``."""
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        return self.apply(images, self.sample(labels, generator, images.shape[1:]))
