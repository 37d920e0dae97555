"""``routegraph predict RUN IMAGES.npy [--k-cpt K] [--out FILE.npz|.csv]``: routed inference.

Each image runs only the layers on its own path. Writes, per image, the
predicted class, the classifier it exited at and the multiply-accumulates it
spent, and prints a summary. Input formats: see docs/inference.md (uint8
[N, 32, 32, 3] or [N, 3, 32, 32] 8-bit colour, gamma-decoded like the CIFAR
training images; or float in [0, 1], already linear, like the tasks' tensors).
"""
from __future__ import annotations

import time
from pathlib import Path


def add_arguments(parser):
    parser.add_argument("run", help="run directory (written by 'routegraph train')")
    parser.add_argument("images", help=".npy file: uint8 [N,32,32,3] or [N,3,32,32], or float in [0,1] (linear colour)")
    parser.add_argument("--k-cpt", type=float, default=None,
                        help="cost per op the routers assume (dynamic-k_cpt runs only; "
                             "see 'routegraph calibrate' to pick one for an ops budget)")
    parser.add_argument("--out", help="output file, .npz (default) or .csv (default: IMAGES with suffix .predictions.npz)")
    parser.add_argument("--labels", help="optional .npy of int labels [N]: also report accuracy")
    parser.add_argument("--colour", "--color", dest="colour", choices=("auto", "srgb", "linear"), default="auto",
                        help="auto: uint8 is 8-bit sRGB-like (decoded with v**2.2), float is linear (default)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def run(args) -> int:
    import numpy as np
    import torch

    from ..errors import ConfigError, DataError
    from ..infer import route
    from ..infer.images import load_images
    from ..train.rundir import load_run

    if args.threads:
        torch.set_num_threads(args.threads)
    run_ = load_run(args.run)
    config, graph, model = run_.config, run_.graph, run_.model
    k_cpt = resolve_k_cpt(config, graph, args.k_cpt)
    images = load_images(args.images, graph.input_shape.dims, args.colour)
    labels = None
    if args.labels:
        labels = torch.from_numpy(np.load(args.labels, allow_pickle=False)).long().reshape(-1)
        if len(labels) != len(images):
            raise DataError(f"{args.labels}: {len(labels)} labels for {len(images)} images")
    if args.batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")

    start = time.perf_counter()
    out = route(model, images, k_cpt, batch_size=args.batch_size)
    seconds = time.perf_counter() - start

    class_names = list(config.get("class_names") or [str(c) for c in range(graph.num_classes)])
    path = Path(args.out) if args.out else default_output(args.images)
    write_predictions(path, out, class_names, k_cpt)
    print_summary(run_, out, k_cpt, seconds, labels, class_names)
    print(f"wrote {path}")
    return 0


def resolve_k_cpt(config: dict, graph, k_cpt):
    """The k_cpt to route with: required for dynamic runs, ignored (with a note) for fixed ones."""
    from ..errors import ConfigError

    if graph.k_cpt_input:
        if k_cpt is None:
            trained = ", ".join(f"{k:g}" for k in config.get("k_cpt_set", []))
            raise ConfigError(f"this run has dynamic k_cpt: pass --k-cpt (trained on {trained}), "
                              "or pick one for an ops budget with 'routegraph calibrate'")
        if k_cpt < 0:
            raise ConfigError(f"--k-cpt must be >= 0, got {k_cpt}")
        return k_cpt
    if k_cpt is not None and config.get("k_cpt") is not None and k_cpt != config["k_cpt"]:
        print(f"note: this network was trained with a fixed k_cpt={config['k_cpt']:g}; its routers do not read "
              f"k_cpt, so --k-cpt {k_cpt:g} changes nothing")
    return None


def default_output(images: str) -> Path:
    """``images.npy`` -> ``images.predictions.npz`` next to it."""
    path = Path(images)
    return path.parent / (path.name.removesuffix(".npy") + ".predictions.npz")


def write_predictions(path: Path, out, class_names: list[str], k_cpt) -> None:
    import csv

    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    exit_names = np.array(out.classifiers)[out.exit.numpy()] if len(out.exit) else np.array([], dtype=str)
    if path.suffix == ".csv":
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", "prediction", "class_name", "exit_classifier", "exit_index", "ops"])
            for i, (p, e, ops) in enumerate(zip(out.predictions.tolist(), out.exit.tolist(), out.ops.tolist())):
                name = class_names[p] if p < len(class_names) else str(p)
                writer.writerow([i, p, name, out.classifiers[e], e, ops])
        return
    if path.suffix != ".npz":
        from ..errors import ConfigError

        raise ConfigError(f"--out {path}: use a .npz or .csv file name")
    arrays = {
        "predictions": out.predictions.numpy(),
        "exit": out.exit.numpy(),
        "exit_classifier": exit_names.astype(str),
        "ops": out.ops.numpy(),
        "classifiers": np.array(out.classifiers, dtype=str),
        "class_names": np.array(class_names, dtype=str),
        "k_cpt": np.array(np.nan if k_cpt is None else float(k_cpt)),
    }
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
