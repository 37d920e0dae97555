"""``routegraph predict RUN IMAGES.npy|ARRAYS.npz|DIR|GLOB|FILE... [--k-cpt K] [--out FILE.npz|.csv]``: routed inference.

Each image runs only the layers on its own path. Writes, per image, the
predicted class, the classifier it exited at and the multiply-accumulates it
spent, and prints a summary. Input formats: see docs/inference.md (uint8
[N, 32, 32, 3] or [N, 3, 32, 32] 8-bit colour, gamma-decoded like the CIFAR
training images; or float in [0, 1], already linear, like the tasks' tensors),
or image files (a folder, a glob pattern, or files: what a shell expands a glob to), decoded and resized to
the run's input like a folder task's images; then a row names each file.
Inputs that are not images, and any input of a run trained on ``npz:PATH``
arrays, are read as they are: a .npy of ``[N, *shape]`` or the key ``x`` of a
.npz, float or integer, the spec's input shape; each CSV row is its row index.
"""
from __future__ import annotations

import time
from pathlib import Path

from .options import K_CPT_TYPE, add_batch_size_flag, add_threads_flag, apply_threads_flag, output_file, routing_k_cpt


def add_arguments(parser):
    parser.add_argument("run", help="run directory (written by 'routegraph train')")
    parser.add_argument("images", metavar="IMAGES", nargs="+", help=".npy file (uint8 [N,32,32,3] or [N,3,32,32], or float in [0,1], "
                        "linear colour), or image files: a folder, a glob such as 'photos/*.jpg', or files; "
                        "or a .npz with the array under key x; for inputs that are not images, or runs on npz:PATH "
                        "arrays, [N, *input shape] float or int, values as in training")
    parser.add_argument("--k-cpt", type=K_CPT_TYPE, default=None,
                        help="cost per op the routers assume (dynamic-k_cpt runs only; "
                             "see 'routegraph calibrate' to pick one for an ops budget)")
    parser.add_argument("--out", type=output_file, help="output file, .npz or .csv (default: IMAGES with suffix .predictions.npz; "
                        "for image files .predictions.csv beside the folder or file, or predictions.csv for a glob or several files)")
    parser.add_argument("--labels", help="optional .npy of int labels [N]: also report accuracy")
    parser.add_argument("--colour", "--color", dest="colour", choices=("auto", "srgb", "linear"), default="auto",
                        help="auto: uint8 is 8-bit sRGB-like (decoded with v**2.2), float is linear (default)")
    add_batch_size_flag(parser, 256)
    add_threads_flag(parser)


def run(args) -> int:
    from ..infer import route
    from ..errors import ConfigError
    from ..infer.images import load_image_files, load_images, load_labels, takes_as_is
    from ..io import check_writable
    from ..train.rundir import load_run

    apply_threads_flag(args)
    arrays = [name for name in args.images if name.endswith((".npy", ".npz"))]
    if arrays and len(args.images) > 1:
        raise ConfigError(f"{arrays[0]}: give one .npy or .npz file, or image files (folders, globs, files)")
    from_files = not arrays
    if from_files and args.colour != "auto":
        raise ConfigError("--colour applies to .npy arrays; image files are decoded like the training images")
    path = check_writable(args.out or default_output(args.images[0] if len(args.images) == 1 else "*"))
    output_format(path)
    run_ = load_run(args.run)
    config, graph, model = run_.config, run_.graph, run_.model
    k_cpt = resolve_k_cpt(config, graph, args.k_cpt)
    as_is = takes_as_is(config.get("data"), graph.input_shape.dims)
    if as_is and args.colour != "auto":
        raise ConfigError(f"--colour applies to images decoded like the paper's; this run's inputs "
                          f"{list(graph.input_shape.dims)} are read as they are")
    files = None
    if from_files:
        resize = (config.get("data_options") or {}).get("resize", "crop")  # as the run's images were
        sources = args.images if len(args.images) > 1 else args.images[0]
        images, files = load_image_files(sources, graph.input_shape.dims, resize)
    else:
        images = load_images(args.images[0], graph.input_shape.dims, args.colour, as_is=as_is)
    labels = None if not args.labels else load_labels(args.labels, len(images), graph.num_classes)

    start = time.perf_counter()
    out = route(model, images, k_cpt, batch_size=args.batch_size)
    seconds = time.perf_counter() - start

    class_names = list(config.get("class_names") or [str(c) for c in range(graph.num_classes)])
    write_predictions(path, out, class_names, k_cpt, files)
    print_summary(run_, out, k_cpt, seconds, labels, class_names)
    print(f"wrote {path}")
    return 0


def resolve_k_cpt(config: dict, graph, k_cpt):
    """The k_cpt to route with: required for dynamic runs, ignored (with a note) for fixed ones."""
    from ..errors import ConfigError

    (k,) = routing_k_cpt(config, graph, None if k_cpt is None else [k_cpt])
    if graph.k_cpt_input and k is None:
        trained = ", ".join(f"{k:g}" for k in config.get("k_cpt_set", []))
        raise ConfigError(f"this run has dynamic k_cpt: pass --k-cpt (trained on {trained}), "
                          "or pick one for an ops budget with 'routegraph calibrate'")
    return k if graph.k_cpt_input else None


def default_output(images: str) -> Path:
    """``images.npy`` -> ``images.predictions.npz`` next to it; a .npz or image files -> a CSV.

    >>> default_output("x/test.npy"), default_output("photos/"), default_output("photos/*.jpg")
    (PosixPath('x/test.predictions.npz'), PosixPath('photos.predictions.csv'), PosixPath('predictions.csv'))
    >>> default_output("x/rows.npz")
    PosixPath('x/rows.predictions.csv')
    """
    path = Path(images)
    if images.endswith(".npy"):
        return path.parent / (path.name.removesuffix(".npy") + ".predictions.npz")
    if any(c in images for c in "*?["):
        return Path("predictions.csv")
    return path.parent / (path.stem + ".predictions.csv")


def output_format(path: Path) -> str:
    """'npz' or 'csv', from the output file's name."""
    if path.suffix not in (".npz", ".csv"):
        from ..errors import ConfigError

        raise ConfigError(f"--out {path}: use a .npz or .csv file name")
    return path.suffix[1:]


def write_predictions(path: Path, out, class_names: list[str], k_cpt, files: list[str] | None = None) -> None:
    """The predictions file: a CSV row, or npz entries, per image; ``files`` adds each image's file name."""
    import csv

    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = output_format(path)
    exit_names = np.array(out.classifiers)[out.exit.numpy()] if len(out.exit) else np.array([], dtype=str)
    if fmt == "csv":
        with open(path, "w", newline="") as handle:
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
    np.savez(path, **arrays)


def print_summary(run_, out, k_cpt, seconds: float, labels, class_names) -> None:
    graph = run_.graph
    n = len(out.exit)
    full = max(p.ops for p in graph.paths)
    k = "-" if k_cpt is None else f"{k_cpt:g}"
    rate = f"{n / seconds:,.0f} images/s" if seconds > 0 else ""
    print(f"{run_.config.get('run_id', run_.path.name)}  k_cpt={k}  images={n}  "
          f"mean ops={out.mean_ops:.4g} ({out.mean_ops / full:.1%} of the deepest path)  {seconds:.2f} s  {rate}")
    if labels is not None and n:
        correct = (out.predictions == labels)
        print(f"accuracy {correct.double().mean().item():.4f}  (error {1 - correct.double().mean().item():.4f})")
    counts = out.exit.bincount(minlength=len(out.classifiers)).tolist()
    print(f"  {'classifier':<24} {'path ops':>12} {'images':>8} {'fraction':>9}" + ("  accuracy" if labels is not None else ""))
    for index, (name, count) in enumerate(zip(out.classifiers, counts)):
        line = f"  {name:<24} {graph.path(name).ops:>12,} {count:>8} {count / max(n, 1):>9.3f}"
        if labels is not None:
            here = out.exit == index
            line += f"  {(out.predictions[here] == labels[here]).double().mean().item():>8.4f}" if count else f"  {'-':>8}"
        print(line)
    if n:
        predicted = out.predictions.bincount(minlength=len(class_names)).tolist()
        top = sorted(range(len(predicted)), key=lambda c: -predicted[c])[:5]
        print("  most predicted: " + ", ".join(f"{class_names[c] if c < len(class_names) else c} ({predicted[c]})" for c in top))
