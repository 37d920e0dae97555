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
The library side (k_cpt, inputs, the predictions file) is :mod:`routegraph.infer.predict`.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

from .options import (K_CPT_TYPE, add_batch_size_flag, add_precision_flag, add_threads_flag, apply_threads_flag,
                      output_file, run_precision)


def add_arguments(parser):
    parser.add_argument("run", help="run directory (written by 'routegraph train'); with --runtime onnx, a folder "
                        "written by 'routegraph export'")
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
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                        help="torch: the run's model, path-only (default); onnx: an exported folder in ONNX Runtime "
                             "(routegraph.deploy)")
    add_batch_size_flag(parser, 256)
    add_threads_flag(parser)
    add_precision_flag(parser)


def run(args) -> int:
    from ..infer.images import load_labels
    from ..infer.predict import (check_colour, default_output, input_source, load_inputs_for, output_format,
                                 resolve_k_cpt, write_predictions)
    from ..io import check_writable

    source = input_source(args.images)
    check_colour(source, args.colour)
    path = check_writable(args.out or default_output(source))
    output_format(path)
    if args.runtime == "onnx" and args.precision not in (None, "fp32"):
        from ..errors import ConfigError

        raise ConfigError("--precision bf16/auto applies to --runtime torch; an export runs in fp32")
    net = _exported(args) if args.runtime == "onnx" else _trained(args)
    k_cpt, note = resolve_k_cpt(net.config, net.graph, args.k_cpt)
    if note:
        print(note)
    images, files = load_inputs_for(net.config, net.input_shape, source, args.colour)
    labels = None if not args.labels else load_labels(args.labels, len(images), len(net.class_names))

    start = time.perf_counter()
    out = net.predict(images, k_cpt)
    seconds = time.perf_counter() - start

    write_predictions(path, out, net.class_names, k_cpt, files)
    print_summary(net.run_id, net.path_ops, out, k_cpt, seconds, labels, net.class_names)
    print(f"wrote {path}")
    return 0


def _trained(args):
    """The run directory's model, routed by ``route()``."""
    from ..infer import route
    from ..infer.predict import class_names
    from ..train.rundir import load_run

    apply_threads_flag(args)
    run_ = load_run(args.run)
    graph = run_.graph
    return SimpleNamespace(
        config=run_.config, graph=graph, input_shape=tuple(graph.input_shape.dims),
        class_names=class_names(run_.config, graph.num_classes), run_id=run_.config.get("run_id", run_.path.name),
        path_ops={p.classifier: p.ops for p in graph.paths},
        predict=lambda x, k: route(run_.model, x, k, batch_size=args.batch_size,
                                   precision=run_precision(args, run_.config)))


def _exported(args):
    """An exported folder (``routegraph export``), run by ONNX Runtime (routegraph.deploy); its output as
    ``route()``'s, so that the predictions file and the summary are the same."""
    import torch

    from .. import deploy
    from ..infer import RoutedOutput

    net = deploy.load(args.run, threads=args.threads)

    def predict(x, k):
        result = net.predict(x.numpy(), k, batch_size=args.batch_size)
        return RoutedOutput(*(torch.from_numpy(a) for a in (result.predictions, result.exit, result.ops)),
                            None if result.logits is None else torch.from_numpy(result.logits), net.classifiers)

    return SimpleNamespace(config=net.config, graph=net, input_shape=net.input_shape, class_names=net.class_names,
                           run_id=net.run_id or net.folder.name,
                           path_ops=dict(zip(net.classifiers, net.path_ops.tolist())), predict=predict)


def print_summary(run_id: str, path_ops: dict[str, int], out, k_cpt, seconds: float, labels, class_names) -> None:
    """The summary lines: mean ops, speed, and per exit classifier its path ops, images (and accuracy)."""
    n = len(out.exit)
    full = max(path_ops.values())
    k = "-" if k_cpt is None else f"{k_cpt:g}"
    rate = f"{n / seconds:,.0f} images/s" if seconds > 0 else ""
    print(f"{run_id}  k_cpt={k}  images={n}  "
          f"mean ops={out.mean_ops:.4g} ({out.mean_ops / full:.1%} of the deepest path)  {seconds:.2f} s  {rate}")
    if labels is not None and n:
        correct = (out.predictions == labels)
        print(f"accuracy {correct.double().mean().item():.4f}  (error {1 - correct.double().mean().item():.4f})")
    counts = out.exit.bincount(minlength=len(out.classifiers)).tolist()
    print(f"  {'classifier':<24} {'path ops':>12} {'images':>8} {'fraction':>9}" + ("  accuracy" if labels is not None else ""))
    for index, (name, count) in enumerate(zip(out.classifiers, counts)):
        line = f"  {name:<24} {path_ops[name]:>12,} {count:>8} {count / max(n, 1):>9.3f}"
        if labels is not None:
            here = out.exit == index
            line += f"  {(out.predictions[here] == labels[here]).double().mean().item():>8.4f}" if count else f"  {'-':>8}"
        print(line)
    if n:
        predicted = out.predictions.bincount(minlength=len(class_names)).tolist()
        top = sorted(range(len(predicted)), key=lambda c: -predicted[c])[:5]
        print("  most predicted: " + ", ".join(f"{class_names[c] if c < len(class_names) else c} ({predicted[c]})" for c in top))
