"""Benchmark: a folder of the user's own images, prepared once and trained from its memory-mapped cache.

Writes ``--images`` generated photos-like files (72x80, half PNG, half JPEG, 10
classes) in the ImageFolder layout, then, each in a fresh process so that its
peak RSS is its own:

1. ``routegraph data prepare folder:DIR --data-option size=64x64``: decode,
   resize (shorter side, centre crop) and write the float16 cache;
2. ``routegraph train`` of a tiny chain with a [3, 64, 64] input, batch 128,
   reading every batch from the memory-mapped cache.

Prints the folder and cache sizes, the prepare time, the training step time and
each phase's peak RSS (``getrusage``), as recorded in docs/data.md
("Your own images"). If the training process's peak RSS stays far below the
cache size, the training split was never loaded into memory.

    python benchmarks/folder_data.py [--images 30000] [--iterations 30] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLASSES = 10
SPEC_FROM, SPEC_TO = ("shape: [3, 32, 32]", "sizes: [16, 8, 4]"), ("shape: [3, 64, 64]", "sizes: [32, 16, 8]")
# Runs the CLI in this process and reports its peak RSS (KiB on Linux) as the last line.
HARNESS = ("import resource, sys; from routegraph.cli.main import main; code = main(sys.argv[1:]); "
           "print('maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")


def write_images(root: Path, n: int, seed: int = 0) -> None:
    """``n`` train images and n/5 test images, 72x80, tinted per class (so the task is learnable)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 200, size=(CLASSES, 3))
    for split, count in (("train", n), ("test", n // 5)):
        for c in range(CLASSES):
            (root / split / f"class{c:02d}").mkdir(parents=True, exist_ok=True)
        for i in range(count):
            c = i % CLASSES
            pixels = (rng.random((72, 80, 3)) * 56 + palette[c]).astype(np.uint8)
            Image.fromarray(pixels).save(root / split / f"class{c:02d}" / f"{i:06d}.{'png' if i % 2 else 'jpg'}")


def run_cli(args: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one CLI command in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", HARNESS, *args], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"routegraph {' '.join(args)} failed:\n{done.stderr}")
    rss = int(done.stdout.strip().splitlines()[-1].split()[1]) // 1024
    return seconds, rss, done.stdout


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30000, help="training images (test: a fifth as many)")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one, removed)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rg-folder-bench-"))
    try:
        photos, data, run = work / "photos", work / "data", work / "run"
        start = time.perf_counter()
        if not photos.exists():
            write_images(photos, args.images)
        print(f"wrote {args.images} + {args.images // 5} images ({du(photos) / 2**20:.0f} MiB) "
              f"in {time.perf_counter() - start:.0f} s")
        spec = work / "spec.yaml"
        text = (ROOT / "specs" / "tiny_chain.yaml").read_text().replace("num_classes: 10", f"num_classes: {CLASSES}")
        for old, new in zip(SPEC_FROM, SPEC_TO):
            text = text.replace(old, new)
        spec.write_text(text.replace("../docs/", str(ROOT / "docs") + "/"))
        task = [f"folder:{photos}", "--data-dir", str(data)]
        seconds, rss, _ = run_cli(["data", "prepare", *task, "--data-option", "size=64x64", "--force"])
        print(f"prepare: {seconds:.1f} s, peak RSS {rss} MiB, cache {du(data) / 2**20:.0f} MiB")
        shutil.rmtree(run, ignore_errors=True)
        seconds, rss, _ = run_cli(["train", str(spec), "--data", *task, "--out", str(run), "--iterations",
                                   str(args.iterations), "--batch-size", "128", "--log-every", "5", "--no-progress",
                                   "--threads", "1", "--checkpoint-every", "0"])
        rates = [json.loads(line).get("examples_per_s") for line in (run / "metrics.jsonl").read_text().splitlines()]
        rates = [r for r in rates if r][1:] or rates  # the first logged interval includes warm-up
        print(f"train: {args.iterations} iterations of batch 128 in {seconds:.1f} s (whole command), "
              f"step {128 / float(np.median(rates)) * 1000:.0f} ms, peak RSS {rss} MiB")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
