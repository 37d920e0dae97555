"""Reading user images for ``routegraph predict``.

The tasks feed networks **float32 NCHW images in linear colour space, values
in [0, 1]** (CIFAR photos are gamma-decoded with ``(v / 255) ** 2.2``). A
``.npy`` file of images is converted to that form:

==================================  =====================================================
array in the file                   conversion
==================================  =====================================================
uint8 ``[N, H, W, C]`` (channels    ``(v / 255) ** 2.2``: 8-bit sRGB-like values, decoded
last, e.g. from PIL/imageio) or     like the CIFAR training images (``--colour srgb``,
``[N, C, H, W]``                    the default for uint8)
float ``[N, ...]`` in [0, 1]        used as is: already linear (``--colour linear``, the
                                    default for floats), e.g. ``task.test_images``
==================================  =====================================================

Image files (PNG, JPEG, BMP, WebP: a folder of them, a glob pattern, or one
file) are read by :func:`load_image_files` with the decoding the folder tasks
are built with (:func:`routegraph.data.decode.decode_image`).

Arrays **as they are** (:func:`to_network_input` with ``as_is``; how ``predict``
reads inputs that are not images, ``[F]`` or ``[T, D]``, and any input of a run
trained on ``npz:PATH`` arrays, which were used as given): float or integer
``[N, *shape]`` of the network's input shape, made float32, no scaling, no colour
conversion. Arrays come from a ``.npy`` or from the key ``x`` of a ``.npz``.

The layout is recognised from the network's input shape ``(C, H, W)``; a
single image without the batch axis is accepted too. ``colour`` overrides
the default decoding (``"srgb"``: apply ``v ** 2.2`` to [0, 1] values;
``"linear"``: none). Anything else is a :class:`~routegraph.errors.DataError`
that says what was found and what is accepted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

GAMMA = 2.2
COLOURS = ("auto", "srgb", "linear")


def load_images(path: str | Path, input_shape: tuple[int, ...], colour: str = "auto", as_is: bool = False) -> torch.Tensor:
    """Read ``path`` (a .npy, or the key ``x`` of a .npz) and convert it with :func:`to_network_input`."""
    if str(path).endswith(".npz"):
        return to_network_input(_load_npz_x(path), input_shape, colour, where=f"{path}: x", as_is=as_is)
    return to_network_input(_load_npy(path, "images"), input_shape, colour, where=str(path), as_is=as_is)


def takes_as_is(data: str | None, input_shape: tuple[int, ...]) -> bool:
    """Whether ``predict`` reads arrays as they are for a run trained on ``data`` with this input:
    for inputs that are not images, and for runs on ``npz:PATH`` arrays (used as given in training).

    >>> takes_as_is("npz:blobs.npz", (3, 32, 32)), takes_as_is("hybrid", (12,)), takes_as_is("hybrid", (3, 32, 32))
    (True, True, False)
    """
    from ..data.augment import is_image
    from ..data.schemes import path_of

    return not is_image(input_shape) or path_of(str(data), "npz") is not None


def load_image_files(source: str | Path | list[str | Path], input_shape: tuple[int, ...],
                     resize: str = "crop") -> tuple[torch.Tensor, list[str]]:
    """Decode the image files of ``source`` (a folder, searched recursively; a glob pattern;
    or one file) to float32 ``[N, C, H, W]`` for an input of shape ``(C, H, W)``, in sorted
    order; returns the images and the file names (relative to a folder source). A list of
    sources (as a shell expands ``photos/*.jpg``) gives their files in the order given, each
    named as for its own source, except that a file is named by its path as given.

    >>> import tempfile, PIL.Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("b.png", "a.jpg"): PIL.Image.new("RGB", (48, 40)).save(folder / name)
    >>> images, names = load_image_files(folder, (3, 20, 24))
    >>> tuple(images.shape), names
    ((2, 3, 20, 24), ['a.jpg', 'b.png'])
    >>> _, names = load_image_files([folder / "b.png", folder / "a.jpg"], (3, 20, 24))
    >>> [Path(name).name for name in names]
    ['b.png', 'a.jpg']
    """
    import glob

    from ..data.decode import decode_image, is_image_file

    several = not isinstance(source, (str, Path))
    files, names = [], []
    for source in (source if several else [source]):
        source = Path(source).expanduser()
        if source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.is_file() and is_image_file(p) and not p.name.startswith("."))
            found_names = [str(p.relative_to(source)) for p in found]
        elif source.is_file():
            found, found_names = [source], [str(source) if several else source.name]
        else:
            found = sorted(Path(p) for p in glob.glob(str(source), recursive=True) if is_image_file(Path(p)))
            found_names = [str(p) for p in found]
        if not found:
            raise DataError(f"{source}: no image files (.png, .jpg, .jpeg, .bmp, .webp) there or matching it")
        files += found
        names += found_names
    if len(input_shape) != 3:
        raise DataError(f"{source}: image files need a network input of shape [C, H, W], not {list(input_shape)}")
    channels, height, width = (int(d) for d in input_shape)
    images = torch.empty(len(files), channels, height, width)
    for i, path in enumerate(files):
        images[i] = decode_image(path, (height, width), channels, resize)
    return images, names


def load_labels(path: str | Path, n: int, num_classes: int) -> torch.Tensor:
    """int64 ``[n]`` class indices from a .npy file of ``n`` integers in ``[0, num_classes)``."""
    array = _load_npy(path, "labels")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{path}: labels of dtype {array.dtype}; expected integers (class indices)")
    if array.ndim != 1 and not (array.ndim == 2 and array.shape[1] == 1):
        raise DataError(f"{path}: labels of shape {array.shape}; expected [N]")
    labels = torch.from_numpy(array.astype(np.int64).reshape(-1))
    if len(labels) != n:
        raise DataError(f"{path}: {len(labels)} labels for {n} images")
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < num_classes):
        raise DataError(f"{path}: labels in [{int(labels.min())}, {int(labels.max())}]; "
                        f"expected class indices 0..{num_classes - 1}")
    return labels


def _load_npy(path: str | Path, what: str) -> np.ndarray:
    """One array from a .npy file; pickles, archives and garbage are a DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # ValueError for pickles, OSError for garbage
        raise DataError(f"{path}: not a .npy array ({type(exc).__name__}: {exc}); "
                        f"save {what} with numpy.save") from None
    if isinstance(array, np.lib.npyio.NpzFile):
        array.close()
        raise DataError(f"{path}: a .npz archive; save a single array with numpy.save(path, {what})")
    return array


def _load_npz_x(path: str | Path) -> np.ndarray:
    """The key ``x`` of a .npz file; anything else is a DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise DataError(f"{path}: no key 'x' (keys: {', '.join(archive.files) or 'none'}); save the inputs "
                                "with numpy.savez(path, x=inputs)")
            return archive["x"]
    except DataError:
        raise
    except Exception as exc:  # a pickle, garbage, a damaged member
        raise DataError(f"{path}: not a .npz of arrays ({type(exc).__name__}: {exc}); save the inputs with "
                        "numpy.savez(path, x=inputs)") from None


def to_network_input(array, input_shape: tuple[int, ...], colour: str = "auto", where: str = "images",
                     as_is: bool = False) -> torch.Tensor:
    """float32 ``[N, C, H, W]`` in linear colour space from a uint8 or float array (see module doc);
    with ``as_is``, float32 ``[N, *input_shape]`` from float or integer values as they are."""
    if colour not in COLOURS:
        raise DataError(f"colour must be one of {COLOURS}, got {colour!r}")
    array = np.asarray(array)
    shape = tuple(int(d) for d in input_shape)
    if as_is:
        return _as_is(array, shape, where)
    accepted = _accepted(shape)
    if array.ndim == len(shape):
        array = array[None]
    if array.ndim != len(shape) + 1:
        raise DataError(f"{where}: array of shape {array.shape}; expected {accepted}")
    if len(shape) == 3 and tuple(array.shape[1:]) == shape:
        pass
    elif len(shape) == 3 and tuple(array.shape[1:]) == (shape[1], shape[2], shape[0]):
        array = np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    elif tuple(array.shape[1:]) != shape:
        raise DataError(f"{where}: array of shape {array.shape}; expected {accepted}")
    if array.dtype == np.uint8:
        values = torch.from_numpy(array.astype(np.float32)).div_(255.0)
        srgb = colour in ("auto", "srgb")
    elif np.issubdtype(array.dtype, np.floating):
        values = torch.from_numpy(array.astype(np.float32, copy=False))
        if not torch.isfinite(values).all():
            raise DataError(f"{where}: float images contain NaN or infinity")
        low, high = (float(values.min()), float(values.max())) if values.numel() else (0.0, 0.0)
        if low < 0 or high > 1:
            raise DataError(f"{where}: float images must lie in [0, 1], found values in [{low:.3g}, {high:.3g}] "
                            "(for 0..255 data save uint8 instead)")
        srgb = colour == "srgb"
    else:
        raise DataError(f"{where}: dtype {array.dtype}; expected uint8 (0..255) or float in [0, 1]")
    return values.pow_(GAMMA) if srgb else values


def _as_is(array: np.ndarray, shape: tuple[int, ...], where: str) -> torch.Tensor:
    if array.ndim == len(shape):
        array = array[None]
    if tuple(array.shape[1:]) != shape:
        raise DataError(f"{where}: array of shape {list(array.shape)}; expected [N, {', '.join(map(str, shape))}] "
                        "(the network's input, values as in training)")
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise DataError(f"{where}: dtype {array.dtype}; expected float or integer inputs")
    values = torch.from_numpy(np.array(array, dtype=np.float32))
    if not torch.isfinite(values).all():
        raise DataError(f"{where}: inputs contain NaN or infinity")
    return values


def _accepted(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        c, h, w = shape
        return f"[N, {h}, {w}, {c}] or [N, {c}, {h}, {w}] (uint8, or float in [0, 1])"
    return f"[N, {', '.join(map(str, shape))}]"
