"""The paper's tasks, built from MNIST and CIFAR-10, and :func:`load_task`.

=========  =======  ==========================================================
task       classes  recipe
=========  =======  ==========================================================
hybrid     10       MNIST 0-4 (recolored, labels 0-4) + CIFAR airplane,
                    automobile, deer, frog, horse (gamma-decoded, labels 5-9)
cifar10    10       all of CIFAR-10, gamma-decoded
cifar5     5        cat, dog, deer, horse, other (all remaining CIFAR classes)
cifar2     2        horse, other
mnist      10       all MNIST digits, recolored like the hybrid digits
synthetic  10       procedural, no files (see :mod:`routegraph.data.synthetic`)
=========  =======  ==========================================================

Every image of the chosen classes of the official train and test splits is
used, in file order. Built tasks are cached (see :mod:`routegraph.data.task`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from routegraph.errors import ConfigError, DataError, UnknownNameError
from routegraph.registry import Registry

from .cifar import CIFAR_CLASSES, find_cifar, gamma_decode, load_cifar10
from .mnist import draw_color_pairs, load_mnist_split, recolor, resize_digits
from .arrays import load_npz_task, npz_class_names
from .folder import folder_path, input_options, load_folder_task, scan_folder
from .paths import cache_dirs, resolve_data_dir, writable_cache_dir
from .schemes import scheme_path, schemes_hint
from .seeding import generator_for
from .task import SPLITS, Task, load_cached_task, save_task

CHUNK = 5000  # images converted at a time; bounds the float32 working memory


@dataclass(frozen=True)
class TaskRecipe:
    """How to build one task. ``build(data_dir, seed)`` returns the task in memory."""

    name: str
    class_names: tuple[str, ...]
    flip_symmetric: tuple[bool, ...]
    sources: tuple[str, ...]  # 'mnist', 'cifar10'
    uses_seed: bool
    description: str
    build: Callable[[Path, int], Task] | None
    version: int = 1  # bump when the recipe changes, so old caches are not used

    def cache_name(self, seed: int) -> str:
        """File name of this task's cache, e.g. ``hybrid-v1-seed0.pt``."""
        return f"{self.name}-v{self.version}" + (f"-seed{seed}" if self.uses_seed else "") + ".pt"


TASKS: Registry[TaskRecipe] = Registry("task", "TaskRecipe (see routegraph.data.tasks)")


def _register(recipe: TaskRecipe) -> TaskRecipe:
    return TASKS.register(recipe.name)(recipe)


# ----------------------------------------------------------------------------- conversions


def recolored_digits(images: np.ndarray, c0: torch.Tensor, c1: torch.Tensor) -> torch.Tensor:
    """MNIST ``uint8 [n, 28, 28]`` -> recolored ``float16 [n, 3, 32, 32]``, chunk by chunk."""
    out = torch.empty(len(images), 3, 32, 32, dtype=torch.float16)
    for start in range(0, len(images), CHUNK):
        stop = start + CHUNK
        out[start:stop] = recolor(resize_digits(images[start:stop]), c0[start:stop], c1[start:stop])
    return out


def decoded_cifar(images: np.ndarray) -> torch.Tensor:
    """CIFAR ``uint8 [n, 3, 32, 32]`` -> gamma-decoded ``float16``, chunk by chunk."""
    out = torch.empty(len(images), 3, 32, 32, dtype=torch.float16)
    for start in range(0, len(images), CHUNK):
        out[start:start + CHUNK] = gamma_decode(images[start:start + CHUNK])
    return out


def mnist_digits(data_dir: Path, split: str, seed: int, keep: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Recolored MNIST images of the digits in ``keep`` (labels unchanged), in file order.

    Colours are drawn for every image of the split, so a digit looks the same in
    the 'hybrid' and 'mnist' tasks built with the same seed.
    """
    images, labels = load_mnist_split(data_dir, split)
    c0, c1 = draw_color_pairs(len(images), generator_for(seed, "mnist-recolor", split))
    mask = np.isin(labels, keep)
    index = torch.from_numpy(np.flatnonzero(mask))
    return recolored_digits(images[mask], c0[index], c1[index]), torch.from_numpy(labels[mask])


def cifar_classes(parts: dict, split: str, label_map: dict[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Gamma-decoded CIFAR images whose class is in ``label_map``, relabelled, in file order."""
    images, labels = parts[split]
    mask = np.isin(labels, list(label_map))
    lookup = np.full(10, -1, dtype=np.int64)
    for source, target in label_map.items():
        lookup[source] = target
    return decoded_cifar(images[mask]), torch.from_numpy(lookup[labels[mask]])


def _make_task(recipe: TaskRecipe, splits: dict[str, tuple[torch.Tensor, torch.Tensor]], **recipe_info) -> Task:
    task = Task(
        name=recipe.name,
        class_names=recipe.class_names,
        flip_symmetric=recipe.flip_symmetric,
        train_images=splits["train"][0], train_labels=splits["train"][1],
        test_images=splits["test"][0], test_labels=splits["test"][1],
        recipe={"version": recipe.version, **recipe_info},
    )
    task.verify()
    empty = [recipe.class_names[c] for c, n in enumerate(task.counts("train")) if n == 0]
    if empty:
        raise DataError(f"task {recipe.name!r}: no training images of class {', '.join(empty)}; the source files look incomplete")
    return task


# ----------------------------------------------------------------------------- recipes

CIFAR = {name: index for index, name in enumerate(CIFAR_CLASSES)}
HYBRID_CIFAR = ("airplane", "automobile", "deer", "frog", "horse")


def _build_hybrid(data_dir: Path, seed: int) -> Task:
    parts = load_cifar10(data_dir)
    label_map = {CIFAR[name]: 5 + i for i, name in enumerate(HYBRID_CIFAR)}
    splits = {}
    for split in SPLITS:
        digit_x, digit_y = mnist_digits(data_dir, split, seed, keep=[0, 1, 2, 3, 4])
        cifar_x, cifar_y = cifar_classes(parts, split, label_map)
        splits[split] = (torch.cat([digit_x, cifar_x]), torch.cat([digit_y, cifar_y]))
    return _make_task(HYBRID, splits, seed=seed, data_dir=str(data_dir), cifar10=str(find_cifar(data_dir)))


def _build_mnist(data_dir: Path, seed: int) -> Task:
    splits = {split: mnist_digits(data_dir, split, seed, keep=list(range(10))) for split in SPLITS}
    return _make_task(MNIST, splits, seed=seed, data_dir=str(data_dir))


def _cifar_builder(recipe_name: str, label_map: dict[int, int]) -> Callable[[Path, int], Task]:
    def build(data_dir: Path, seed: int) -> Task:
        parts = load_cifar10(data_dir)
        splits = {split: cifar_classes(parts, split, label_map) for split in SPLITS}
        return _make_task(TASKS.get(recipe_name), splits, data_dir=str(data_dir), cifar10=str(find_cifar(data_dir)))

    return build


def _grouped(named: tuple[str, ...]) -> dict[int, int]:
    """CIFAR label map: each named class gets its own label, every other class the last one."""
    other = len(named)
    return {index: named.index(name) if name in named else other for name, index in CIFAR.items()}


HYBRID = _register(TaskRecipe(
    "hybrid", ("0", "1", "2", "3", "4") + HYBRID_CIFAR, (False,) * 5 + (True,) * 5,
    ("mnist", "cifar10"), True,
    "MNIST 0-4 recolored + CIFAR airplane/automobile/deer/frog/horse (paper sec. 5.1)", _build_hybrid,
))
MNIST = _register(TaskRecipe(
    "mnist", tuple(str(d) for d in range(10)), (False,) * 10, ("mnist",), True,
    "all MNIST digits, resized and recolored like the hybrid digits", _build_mnist,
))
_register(TaskRecipe(
    "cifar10", CIFAR_CLASSES, (True,) * 10, ("cifar10",), False,
    "all of CIFAR-10, gamma-decoded", _cifar_builder("cifar10", {i: i for i in range(10)}),
))
_register(TaskRecipe(
    "cifar5", ("cat", "dog", "deer", "horse", "other"), (True,) * 5, ("cifar10",), False,
    "CIFAR-10 as cat/dog/deer/horse/other; 'other' holds the 6 remaining classes (paper sec. 5.6)",
    _cifar_builder("cifar5", _grouped(("cat", "dog", "deer", "horse"))),
))
_register(TaskRecipe(
    "cifar2", ("horse", "other"), (True, True), ("cifar10",), False,
    "CIFAR-10 as horse/other; 'other' holds the 9 remaining classes (paper sec. 5.6)",
    _cifar_builder("cifar2", _grouped(("horse",))),
))


def _register_synthetic() -> None:
    from .synthetic import CLASS_NAMES, FLIP_SYMMETRIC

    _register(TaskRecipe(
        "synthetic", CLASS_NAMES, FLIP_SYMMETRIC, (), True,
        "procedural offline task: 5 easy flat-colour shapes + 5 hard dot arrangements; no files", None,
    ))


_register_synthetic()

# ----------------------------------------------------------------------------- loading


def get_recipe(name: str) -> TaskRecipe:
    """The recipe of task ``name``; :class:`ConfigError` with a suggestion if unknown."""
    try:
        return TASKS.get(name)
    except UnknownNameError as exc:
        raise ConfigError(f"{exc.message} ({exc.allowed}; or {schemes_hint()})") from None

# the loader of each scheme:PATH (routegraph.data.schemes): the user's own data
SCHEME_LOADERS = {"folder": load_folder_task, "npz": load_npz_task}

FILE_TASK_OPTIONS = ("rebuild", "cache")


def task_options_for_input(name: str, options: dict | None, dims) -> dict | None:
    """The options to load task ``name`` with for a network whose input shape is ``dims``:
    a folder task decodes its images to that size (unless ``options`` say otherwise);
    the built-in tasks have one size and get ``options`` back as they are (None stays None,
    so run ids, which hash the options, do not change).

    >>> task_options_for_input("folder:photos", {}, (3, 40, 48))
    {'size': '40x48', 'channels': 3}
    >>> task_options_for_input("synthetic", {"n_train": 10}, (3, 32, 32))
    {'n_train': 10}
    """
    return input_options(options, dims) if folder_path(name) is not None else options


def task_class_names(name: str) -> tuple[str, ...]:
    """The class names of task ``name`` without building it: the recipe's, a folder's class folders
    (no image is decoded), or a .npz's ``class_names`` (no input is read).

    >>> task_class_names("cifar2")
    ('horse', 'other')
    """
    source = scheme_path(name)
    if source is None:
        return get_recipe(name).class_names
    if source[0] == "folder":
        return scan_folder(source[1].expanduser())[0]
    return npz_class_names(source[1].expanduser())


def find_cached_task(name: str, data_dir: str | Path | None = None, seed: int = 0) -> Path | None:
    """The existing cache file of task ``name``, or None."""
    recipe = get_recipe(name)
    if recipe.build is None:
        return None
    for directory in cache_dirs(resolve_data_dir(data_dir)):
        path = directory / recipe.cache_name(seed)
        if path.is_file():
            return path
    return None


def load_task(name: str, data_dir: str | Path | None = None, *, seed: int = 0, **options) -> Task:
    """Load task ``name``: from its cache if there is one, else built from the raw files and cached.

    Options for the file-based tasks: ``rebuild=True`` ignores an existing cache;
    ``cache=False`` builds without writing a cache. Options for 'synthetic' are
    those of :func:`routegraph.data.synthetic.generate_synthetic` (``n_train``, ...).
    ``folder:PATH`` is the user's own images (:mod:`routegraph.data.folder`; also
    ``size``, ``channels``, ``resize``; see :func:`task_options_for_input`);
    ``npz:PATH`` is the user's own arrays (:mod:`routegraph.data.arrays`).

    >>> task = load_task("synthetic", n_train=200, n_test=100, seed=1)
    >>> task.name, task.num_classes, len(task.test_labels)
    ('synthetic', 10, 100)
    >>> hybrid = load_task("hybrid", "/work/shared/data")   # doctest: +SKIP
    """
    source = scheme_path(name)
    if source is not None:
        return SCHEME_LOADERS[source[0]](name, data_dir, seed=seed, **options)
    recipe = get_recipe(name)
    if recipe.build is None:
        from .synthetic import generate_synthetic

        return generate_synthetic(seed=seed, **options)
    unknown = sorted(set(options) - set(FILE_TASK_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for task {name!r} (known: {', '.join(FILE_TASK_OPTIONS)})")
    data_dir = resolve_data_dir(data_dir)
    file_name = recipe.cache_name(seed)
    if not options.get("rebuild", False):
        cached = find_cached_task(name, data_dir, seed)
        if cached is not None:
            return load_cached_task(cached)
    task = recipe.build(data_dir, seed)
    if not options.get("cache", True):
        return task
    target = writable_cache_dir(data_dir)
    if target is None:
        warnings.warn(f"no writable cache directory for {data_dir}; task {name!r} is not cached", stacklevel=2)
        return task
    save_task(task, target / file_name)
    return load_cached_task(target / file_name)
