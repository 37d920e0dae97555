"""Training-time augmentation: random shifts with mean-colour fill, and flips.

Per image (reference, paper sec. 4.8): a horizontal flip with probability 0.5 if
its class is flip-symmetric, then a shift by integers ``(dy, dx)`` drawn
uniformly from ``[-max_shift, max_shift]``. Pixels uncovered by the shift are
filled with the image's mean colour, computed in the task's linear
(gamma-decoded) colour space.

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

from routegraph.errors import ConfigError


@dataclass(frozen=True)
class AugmentParams:
    """The random choices for a batch: ``shifts`` int64 [n, 2] as (dy, dx), ``flips`` bool [n]."""

    shifts: torch.Tensor
    flips: torch.Tensor

    def __getitem__(self, index) -> "AugmentParams":
        return AugmentParams(self.shifts[index], self.flips[index])


class Augmenter:
    """Random shift + flip, vectorised over the batch.

    ``flip_symmetric[c]`` says whether class ``c`` may be flipped. ``max_shift=0``
    disables shifts and ``flip=False`` disables flips; the random draws are the
    same either way, so toggling one does not change the other's choices.
    """

    def __init__(self, flip_symmetric: Sequence[bool], max_shift: int = 4, flip: bool = True):
        if max_shift < 0:
            raise ConfigError(f"max_shift={max_shift}: expected a non-negative number of pixels")
        self.flip_symmetric = torch.tensor([bool(f) for f in flip_symmetric], dtype=torch.bool)
        self.max_shift = int(max_shift)
        self.flip = bool(flip)

    def sample(self, labels: torch.Tensor, generator: torch.Generator) -> AugmentParams:
        """Draw shifts and flips for images with these ``labels``."""
        n = len(labels)
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (n, 2), generator=generator)
        coin = torch.rand(n, generator=generator) < 0.5
        flips = coin & self.flip_symmetric[labels.cpu()] if self.flip else torch.zeros(n, dtype=torch.bool)
        return AugmentParams(shifts, flips)

    def apply(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Flip, then shift ``images [n, C, H, W]`` as ``params`` say; returns float32."""
        images = images.float()
        n, channels, height, width = images.shape
        if params.shifts.shape != (n, 2) or params.flips.shape != (n,):
            raise ValueError(f"augmentation parameters for {len(params.flips)} images, got {n} images")
        if self.max_shift >= min(height, width):
            raise ConfigError(f"max_shift={self.max_shift} must be smaller than the image ({height}x{width})")
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
        return self.apply(images, self.sample(labels, generator))
