"""``routegraph demo``: the main job end to end, offline, in a few minutes on 2 cores.

It runs the same commands a user would: compile a spec and draw it; train
static baselines and routed actor networks on the built-in synthetic task;
evaluate them; run one path-only on the test images; export it to ONNX and run that in ONNX
Runtime (when onnx and onnxruntime are installed); draw where examples exit (by class), the accuracy/efficiency
curves and the dataflow over training; and write one HTML report.
"""
from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

from ..checks import POSITIVE_INT
from .options import K_CPT_TYPE, number, output_folder


def add_arguments(parser):
    parser.add_argument("--out", default="demo-out", type=output_folder, help="output folder (default: demo-out)")
    parser.add_argument("--spec", default=None, help="routed spec (default: specs/tiny_chain.yaml)")
    parser.add_argument("--iterations", type=number(POSITIVE_INT), default=600, help="training steps per network (default: 600)")
    parser.add_argument("--k-cpt", type=K_CPT_TYPE, nargs="+", default=[0.0, 3e-7, 1e-6, 3e-6],
                        help="k_cpt values of the routed networks")
    parser.add_argument("--n-train", type=number(POSITIVE_INT), default=6000, help="synthetic training images (default: 6000)")
    parser.add_argument("--fresh", action="store_true", help="delete --out first (else finished runs are reused)")


def _spec_path(value: str | None) -> str:
    if value:
        return value
    here = Path("specs/tiny_chain.yaml")
    if here.exists():
        return str(here)
    return str(Path(__file__).resolve().parents[2] / "specs" / "tiny_chain.yaml")


def run(args) -> int:
    from .main import main
    from ..runs import EVALUATIONS

    out = Path(args.out)
    if args.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = _spec_path(args.spec)
    data = ["--data", "synthetic", "--data-option", f"n_train={args.n_train}", "--data-option", "n_test=2000"]
    common = ["--iterations", str(args.iterations), "--batch-size", "64", "--eval-every", str(max(args.iterations // 10, 1)),
              "--checkpoint-every", str(max(args.iterations // 4, 1)), "--no-progress", *data]
    started = time.perf_counter()

    def step(title: str, argv: list[str]) -> None:
        print(f"\n== {title}\n$ routegraph {' '.join(argv)}", flush=True)
        code = main(argv)
        if code:
            raise SystemExit(code)

    step("compile the spec and draw its architecture", ["compile", spec, "--render", str(out / "architecture.svg")])
    runs = out / "runs"
    for exit_index in (1, 2, 3):
        run_dir = runs / f"static-{exit_index}"
        if not (run_dir / EVALUATIONS).exists():
            step(f"train static baseline {exit_index}", ["train", spec, "--strategy", "static", "--static-exit",
                                                         str(exit_index), "--out", str(run_dir), *common])
    for k_cpt in args.k_cpt:
        run_dir = runs / f"actor-{k_cpt:g}"
        if not (run_dir / EVALUATIONS).exists():
            step(f"train a routed actor network, k_cpt={k_cpt:g}", ["train", spec, "--strategy", "actor", "--k-cpt",
                                                                      str(k_cpt), "--out", str(run_dir), *common])
    actors = [str(p) for p in sorted(runs.glob("actor-*"), key=lambda p: float(p.name.split("-", 1)[1]))]  # by k_cpt
    everything = sorted(str(p) for p in runs.iterdir())
    step("evaluate one network at a stricter k_cpt", ["evaluate", actors[-1], *data])
    images, labels = _export_test_images(out, args.n_train)
    step("run one network path-only: each image executes only its own path", [
        "predict", actors[len(actors) // 2], images, "--labels", labels, "--out", str(out / "predictions.csv")])
    if all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime")):
        step("export it to ONNX: a folder that runs without torch", ["export", actors[len(actors) // 2], "-o",
                                                                      str(out / "deployed")])
        step("run the export path-only in ONNX Runtime (routegraph.deploy)", [
            "predict", str(out / "deployed"), images, "--runtime", "onnx", "--labels", labels,
            "--out", str(out / "predictions-onnx.csv")])
    else:
        print("\n== export and ONNX Runtime: skipped (pip install 'routegraph[deploy]' onnx)", flush=True)
    step("where examples exit, by class (Fig. 6/7)", ["render", *actors, "--dataflow", "classes", "-o", str(out / "dataflow-classes.svg")])
    step("where examples exit, correct vs. wrong", ["render", actors[len(actors) // 2], "--dataflow", "accuracy", "-o", str(out / "dataflow-accuracy.svg")])
    step("accuracy vs. mean op count (Fig. 5)", ["plot", *everything, "-o", str(out / "curves.png")])
    step("dataflow over training (Fig. 8)", ["plot", actors[len(actors) // 2], "--over-training", "-o", str(out / "over-training.png")])
    step("one self-contained report", ["report", *everything, "-o", str(out / "report.html"), "--title", "routegraph demo"])
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s; open {out / 'report.html'}")
    return 0


def _export_test_images(out: Path, n_train: int) -> tuple[str, str]:
    """The synthetic test split as .npy files, as a user would hand images to ``predict``."""
    import numpy as np

    from ..data import load_task

    task = load_task("synthetic", n_train=n_train, n_test=2000)
    images, labels = out / "test-images.npy", out / "test-labels.npy"
    np.save(images, task.test_images.float().numpy())
    np.save(labels, task.test_labels.numpy())
    return str(images), str(labels)
