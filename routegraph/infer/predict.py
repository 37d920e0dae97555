"""Predicting with a saved run: which k_cpt it routes with, its inputs, and the predictions file.

The library side of ``routegraph predict`` and ``routegraph evaluate`` (the commands parse
and print):

- :func:`routing_k_cpt` / :func:`resolve_k_cpt`: the k_cpt a run is routed with. A
  dynamic-k_cpt network takes the one asked for (required); a fixed-k_cpt network's routers
  do not read k_cpt, so it is routed at its own, with a note when another was asked for.
- :func:`load_inputs`: images or arrays, read as the run's training inputs were.
- :func:`write_predictions`: the predictions file, a CSV row or npz entries per image
  (format: docs/inference.md); :func:`default_output` names it.

>>> from routegraph.infer import route
>>> from routegraph.infer.predict import load_inputs, resolve_k_cpt, write_predictions
>>> run = load_run("runs/dyn")                                          # doctest: +SKIP
>>> k = resolve_k_cpt(run.config, run.graph, 4e-9)                      # doctest: +SKIP
>>> images, files = load_inputs(run, "photos/")                         # doctest: +SKIP
>>> write_predictions(default_output("photos/"), route(run.model, images, k), run.config["class_names"], k, files)  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError


def routing_k_cpt(config: dict, graph, requested: list | None) -> tuple[list, str]:
    """``(values, note)``: the k_cpt values to route a run's network with, and a note for
    the user ("" if none).

    A dynamic-k_cpt network takes the ``requested`` values (None: ``[None]``, for the
    caller to default). A fixed-k_cpt network's routers do not read k_cpt: it is routed
    once, at its own k_cpt, with a note if others were asked for.

    >>> class Fixed:
    ...     k_cpt_input = False
    >>> routing_k_cpt({"k_cpt": 1e-8}, Fixed(), [1e-8])
    ([1e-08], '')
    >>> routing_k_cpt({"k_cpt": 1e-8}, Fixed(), [2e-9])[1]
    'note: this network was trained with a fixed k_cpt=1e-08; its routers do not read k_cpt, so --k-cpt 2e-09 changes nothing'
    """
    if graph.k_cpt_input:
        return (list(requested) if requested else [None]), ""
    own = config.get("k_cpt")
    ignored = [k for k in requested or [] if k != own]
    note = ""
    if ignored:
        trained = "a fixed k_cpt" if own is None else f"a fixed k_cpt={own:g}"
        note = (f"note: this network was trained with {trained}; its routers do not read k_cpt, "
                f"so --k-cpt {' '.join(f'{k:g}' for k in ignored)} changes nothing")
    return [own], note


def evaluation_k_cpts(config: dict, graph, requested: list | None) -> tuple[list, str]:
    """``(values, note)`` as :func:`routing_k_cpt`, a dynamic run defaulting to the k_cpt set
    it was trained on (what ``routegraph evaluate`` scores).

    >>> class Dynamic:
    ...     k_cpt_input = True
    >>> evaluation_k_cpts({"k_cpt_set": [0.0, 1e-9]}, Dynamic(), None)
    ([0.0, 1e-09], '')
    """
    values, note = routing_k_cpt(config, graph, requested)
    if values == [None] and graph.k_cpt_input:
        values = config["k_cpt_set"]
    return values, note


def resolve_k_cpt(config: dict, graph, k_cpt: float | None) -> tuple[float | None, str]:
    """``(k_cpt, note)``: the one k_cpt to route with: required for dynamic runs (else a
    :class:`~routegraph.errors.ConfigError`), ignored (with a note) for fixed ones, whose
    routers do not read it (None).

    >>> class Dynamic:
    ...     k_cpt_input = True
    >>> resolve_k_cpt({"k_cpt_set": [0.0, 1e-9]}, Dynamic(), 4e-9)
    (4e-09, '')
    >>> resolve_k_cpt({"k_cpt_set": [0.0, 1e-9]}, Dynamic(), None)
    Traceback (most recent call last):
    routegraph.errors.ConfigError: this run has dynamic k_cpt: pass --k-cpt (trained on 0, 1e-09), or pick one ...
    """
    (k,), note = routing_k_cpt(config, graph, None if k_cpt is None else [k_cpt])
    if graph.k_cpt_input and k is None:
        trained = ", ".join(f"{k:g}" for k in config.get("k_cpt_set", []))
        raise ConfigError(f"this run has dynamic k_cpt: pass --k-cpt (trained on {trained}), "
                          "or pick one for an ops budget with 'routegraph calibrate'")
    return (k if graph.k_cpt_input else None), note


def input_source(names: list[str]) -> str | list[str]:
    """predict's inputs as one source: one name (a .npy/.npz, a folder, a glob, a file), or
    several image files or folders (what a shell expands a glob to). Arrays come alone.

    >>> input_source(["x.npy"]), input_source(["a.png", "b.png"])
    ('x.npy', ['a.png', 'b.png'])
    >>> input_source(["x.npy", "a.png"])
    Traceback (most recent call last):
    routegraph.errors.ConfigError: x.npy: give one .npy or .npz file, or image files (folders, globs, files)
    """
    arrays = [name for name in names if name.endswith((".npy", ".npz"))]
    if arrays and len(names) > 1:
        raise ConfigError(f"{arrays[0]}: give one .npy or .npz file, or image files (folders, globs, files)")
    return names[0] if len(names) == 1 else list(names)


def check_colour(source: str | list[str], colour: str) -> None:
    """``colour`` other than auto applies to arrays, not to image files (else a ConfigError).

    >>> check_colour("photos/", "srgb")
    Traceback (most recent call last):
    routegraph.errors.ConfigError: --colour applies to .npy arrays; image files are decoded like the training images
    """
    if from_files(source) and colour != "auto":
        raise ConfigError("--colour applies to .npy arrays; image files are decoded like the training images")


def from_files(source: str | list[str]) -> bool:
    """Whether ``source`` names image files (a folder, a glob, one image) rather than arrays.

    >>> from_files("x/test.npy"), from_files("rows.npz"), from_files("photos/*.jpg")
    (False, False, True)
    """
    return not isinstance(source, str) or not source.endswith((".npy", ".npz"))


def load_inputs(run, source: str | list[str], colour: str = "auto"):
    """``(images, files)``: the inputs in ``source`` as run ``run``'s network takes them, and
    the image files' names (None for arrays).

    Image files are decoded and resized like the run's training images; a .npy or .npz is
    read as the paper's 8-bit or linear colour (``colour``: auto, srgb, linear), or as it is
    for inputs that are not images and runs on ``npz:PATH`` arrays (docs/inference.md).
    ``colour`` other than auto applies to image arrays only (else a ConfigError).
    """
    return load_inputs_for(run.config, tuple(run.graph.input_shape.dims), source, colour)


def load_inputs_for(config: dict, input_shape: tuple[int, ...], source: str | list[str], colour: str = "auto"):
    """:func:`load_inputs` for a network of ``input_shape`` trained as ``config`` says (its ``data`` and
    ``data_options``): how ``predict --runtime onnx`` reads inputs for an exported folder."""
    from .images import load_image_files, load_images, takes_as_is

    check_colour(source, colour)
    as_is = takes_as_is(config.get("data"), input_shape)
    if as_is and colour != "auto":
        raise ConfigError(f"--colour applies to images decoded like the paper's; this run's inputs "
                          f"{list(input_shape)} are read as they are")
    if from_files(source):
        resize = (config.get("data_options") or {}).get("resize", "crop")  # as the run's images were
        return load_image_files(source, input_shape, resize)
    return load_images(source, input_shape, colour, as_is=as_is), None


def class_names(config: dict, num_classes: int) -> list[str]:
    """The run's class names, or the class indices as text when it has none.

    >>> class_names({}, 3), class_names({"class_names": ["cat", "dog"]}, 2)
    (['0', '1', '2'], ['cat', 'dog'])
    """
    return list(config.get("class_names") or [str(c) for c in range(num_classes)])


def default_output(images: str | list[str]) -> Path:
    """``images.npy`` -> ``images.predictions.npz`` next to it; a .npz or image files -> a CSV
    (``predictions.csv`` for a glob or several files).

    >>> default_output("x/test.npy"), default_output("photos/"), default_output("photos/*.jpg")
    (PosixPath('x/test.predictions.npz'), PosixPath('photos.predictions.csv'), PosixPath('predictions.csv'))
    >>> default_output("x/rows.npz")
    PosixPath('x/rows.predictions.csv')
    """
    if not isinstance(images, str):
        return Path("predictions.csv")
    path = Path(images)
    if images.endswith(".npy"):
        return path.parent / (path.name.removesuffix(".npy") + ".predictions.npz")
    if any(c in images for c in "*?["):
        return Path("predictions.csv")
    return path.parent / (path.stem + ".predictions.csv")


def output_format(path: Path) -> str:
    """'npz' or 'csv', from the output file's name (else a ConfigError).

    >>> output_format(Path("out.csv"))
    'csv'
    """
    if path.suffix not in (".npz", ".csv"):
        raise ConfigError(f"--out {path}: use a .npz or .csv file name")
    return path.suffix[1:]


def write_predictions(path: Path, out, class_names: list[str], k_cpt, files: list[str] | None = None) -> None:
    """Write the predictions file: a CSV row, or npz entries, per image of ``out`` (a
    :class:`~routegraph.infer.RoutedOutput`); ``files`` adds each image's file name.

    >>> import torch
    >>> from routegraph.infer import RoutedOutput
    >>> out = RoutedOutput(torch.tensor([1]), torch.tensor([0]), torch.tensor([5]), ["l1.exit"])  # doctest: +SKIP
    >>> write_predictions(Path("p.csv"), out, ["cat", "dog"], None)                              # doctest: +SKIP
    """
    import csv

    import numpy as np

    from ..io import atomic_open

    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = output_format(path)
    exit_names = np.array(out.classifiers)[out.exit.numpy()] if len(out.exit) else np.array([], dtype=str)
    if fmt == "csv":  # written to a temporary file that replaces ``path`` only when complete
        with atomic_open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index"] + (["file"] if files else []) + ["prediction", "class_name", "exit_classifier",
                                                                     "exit_index", "ops"])
            for i, (p, e, ops) in enumerate(zip(out.predictions.tolist(), out.exit.tolist(), out.ops.tolist())):
                name = class_names[p] if p < len(class_names) else str(p)
                writer.writerow([i] + ([files[i]] if files else []) + [p, name, out.classifiers[e], e, ops])
        return
    arrays = {
        "predictions": out.predictions.numpy(),
        "exit": out.exit.numpy(),
        "exit_classifier": exit_names.astype(str),
        "ops": out.ops.numpy(),
        "classifiers": np.array(out.classifiers, dtype=str),
        "class_names": np.array(class_names, dtype=str),
        "k_cpt": np.array(np.nan if k_cpt is None else float(k_cpt)),
    }
    if files:
        arrays["files"] = np.array(files, dtype=str)
    if out.logits is not None:
        arrays["logits"] = out.logits.float().numpy()
    with atomic_open(path, "wb") as handle:  # a file object: np.savez adds no ".npz" to its name
        np.savez(handle, **arrays)
