"""Decoding image files (PNG, JPEG, BMP, WebP) into network inputs: the one place that does it.

:func:`decode_image` reads a file with Pillow, converts it to RGB (or to
grayscale ``L`` for a 1-channel input), resizes it to the input's H x W and
returns float32 ``[C, H, W]`` in the tasks' colour space: linear, values in
[0, 1], gamma-decoded like the CIFAR photos (:func:`routegraph.data.cifar.gamma_decode`).

Resize modes:

=========  ===================================================================
crop       scale so the shorter side fits, then cut the centre (default)
stretch    scale both sides to H x W; the aspect ratio is not kept
none       no resizing: the image must already be H x W
=========  ===================================================================

Every failure is a :class:`~routegraph.errors.DataError` naming the file.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from routegraph.errors import DataError

from .cifar import gamma_decode

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
RESIZE_MODES = ("crop", "stretch", "none")


def is_image_file(path: Path) -> bool:
    """True for a file whose suffix is one of :data:`IMAGE_SUFFIXES` (any case).

    >>> is_image_file(Path("cat.JPG")), is_image_file(Path("notes.txt"))
    (True, False)
    """
    return path.suffix.lower() in IMAGE_SUFFIXES


def check_resize(resize: str) -> str:
    """``resize`` if it is a known mode, else a DataError listing the modes.

    >>> check_resize("crop")
    'crop'
    """
    if resize not in RESIZE_MODES:
        raise DataError(f"resize={resize!r}: expected one of {', '.join(RESIZE_MODES)}")
    return resize


def image_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` of an image file, from its header (the pixels are not decoded).

    >>> import tempfile, PIL.Image
    >>> file = Path(tempfile.mkdtemp()) / "a.png"; PIL.Image.new("RGB", (28, 20)).save(file)
    >>> image_size(file)
    (20, 28)
    """
    with _open(path, load=False) as image:
        return image.height, image.width


def decode_image(path: str | Path, size: tuple[int, int] | None = None, channels: int = 3,
                 resize: str = "crop") -> torch.Tensor:
    """Decode ``path`` to float32 ``[channels, H, W]``, linear colour, values in [0, 1].

    ``size`` is ``(H, W)``; None keeps the image's own size (as does ``resize="none"``,
    which then requires the image to be ``size`` already).

    >>> import tempfile, PIL.Image
    >>> file = Path(tempfile.mkdtemp()) / "a.png"; PIL.Image.new("RGB", (28, 20), (255, 0, 0)).save(file)
    >>> x = decode_image(file, size=(16, 16))
    >>> tuple(x.shape), x[0].min().item(), x[1].max().item()
    ((3, 16, 16), 1.0, 0.0)
    >>> tuple(decode_image(file, size=(10, 30), channels=1, resize="stretch").shape)
    (1, 10, 30)
    """
    check_resize(resize)
    if channels not in (1, 3):
        raise DataError(f"channels={channels}: image files decode to 1 (grayscale) or 3 (RGB) channels")
    path = Path(path)
    with _open(path) as image:
        try:
            image = _rgb_or_gray(image, channels)
            if size is not None:
                image = _resized(image, tuple(int(s) for s in size), resize, path)
            array = np.asarray(image, dtype=np.uint8)
        except DataError:
            raise
        except Exception as exc:  # truncated or corrupt pixel data shows up only when decoding
            raise DataError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return gamma_decode(np.ascontiguousarray(array))


def _open(path: str | Path, load: bool = True):
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if load:
                image.load()
        return image
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None


def _rgb_or_gray(image, channels: int):
    """RGB (alpha dropped onto black, palettes expanded) or 8-bit grayscale."""
    mode = "L" if channels == 1 else "RGB"
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit PNGs: scale to 8 bits before converting
        image = image.point(lambda v: v / 256).convert("L")
    return image if image.mode == mode else image.convert(mode)


def _resized(image, size: tuple[int, int], resize: str, path: Path):
    from PIL import Image

    height, width = size
    if (image.height, image.width) == (height, width):
        return image
    if resize == "none":
        raise DataError(f"{path}: image is {image.height}x{image.width} (HxW) but the input is {height}x{width}, "
                        "and resize is 'none'; resize the files, or use --data-option resize=crop or resize=stretch")
    if resize == "stretch":
        return image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    scale = max(height / image.height, width / image.width)  # the shorter side (relative to H x W) fits
    scaled_w, scaled_h = max(width, round(image.width * scale)), max(height, round(image.height * scale))
    left, top = (scaled_w - width) // 2, (scaled_h - height) // 2
    return image.resize((scaled_w, scaled_h), Image.Resampling.BILINEAR, reducing_gap=3.0).crop(
        (left, top, left + width, top + height))
