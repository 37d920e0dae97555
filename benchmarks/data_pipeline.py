"""Benchmark: does augmentation keep up with training, at 32, 64 and 128 px?

For each image size, times in the same run and interleaved (so load changes hit
both alike):

- one SGD step (batch 128, momentum 0.9) of the paper's 8-layer multiscale chain
  with a static classifier after layer 8, written here in plain PyTorch
  (specs/chain_8layer.yaml; at H px its pyramid is H, H/2, H/4, H/8 and the
  classifier reads the H/8 map);
- augmenting 128 images (``Augmenter``: shifts of ±4 px at 32 px scaled with the
  image, mean-colour fill, flips);
- a whole ``BatchStream.batch`` call (index, gather from the task, augment), on
  the synthetic task's images resized to that size.

Prints the medians and the ratio augmentation / training step, and writes the
section ``## Data pipeline`` of docs/benchmarks.md (other sections are kept).

    python benchmarks/data_pipeline.py [--steps 30] [--sizes 32 64 128] [--threads N] [--no-write]

``--steps`` is the number of training steps at 32 px; larger images take fewer
(scaled by the pixel count, at least 5).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routegraph.data import Augmenter, BatchStream, load_task  # noqa: E402

from docs_section import write_section  # noqa: E402

SECTION = "## Data pipeline"
# (channels per scale, number of scales) of layers 1..8; scales are always the coarsest ones.
CHAIN_LAYERS = [(16, 4), (16, 4), (32, 3), (32, 3), (64, 2), (64, 2), (128, 1), (128, 1)]


class MultiscaleConv(nn.Module):
    """Reads the last ``scales`` maps of its input pyramid; one output map per scale.

    Finest output: conv(input). Each coarser output k: conv(input k) +
    conv(maxpool2x2(output k-1)); every output map gets BN + ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, scales: int):
        super().__init__()
        self.scales = scales
        self.lateral = nn.ModuleList(nn.Conv2d(in_channels, out_channels, 3, padding=1) for _ in range(scales))
        self.vertical = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in range(scales - 1))
        self.norms = nn.ModuleList(nn.BatchNorm2d(out_channels, eps=1e-6, momentum=0.1) for _ in range(scales))

    def forward(self, pyramid: list[torch.Tensor]) -> list[torch.Tensor]:
        inputs = pyramid[-self.scales:]
        outputs = []
        for k, x in enumerate(inputs):
            y = self.lateral[k](x)
            if k > 0:
                y = y + self.vertical[k - 1](F.max_pool2d(outputs[-1], 2))
            outputs.append(F.relu(self.norms[k](y)))
        return outputs


class MultiscaleChain(nn.Module):
    """4-scale pyramid -> ``depth`` multiscale layers -> linear classifier on the coarsest map
    (4x4 for the paper's 32x32 images, ``size / 8`` in general)."""

    def __init__(self, depth: int = 8, num_classes: int = 10, size: int = 32):
        super().__init__()
        self.size = size
        layers, in_channels = [], 3
        for channels, scales in CHAIN_LAYERS[:depth]:
            layers.append(MultiscaleConv(in_channels, channels, scales))
            in_channels = channels
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Linear(in_channels * (size // 8) ** 2, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pyramid = [images] + [F.interpolate(images, size=(s, s), mode="bilinear", align_corners=False)
                              for s in (self.size // 2, self.size // 4, self.size // 8)]
        for layer in self.layers:
            pyramid = layer(pyramid)
        return self.classifier(pyramid[-1].flatten(1))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return "{:.1f}".format(os.getloadavg()[0])
    except OSError:
        return "unknown"


def steps_at(size: int, steps: int) -> int:
    """Training steps timed at ``size`` px: ``steps`` at 32 px, fewer for larger images."""
    return max(5, round(steps * 32 ** 2 / size ** 2))


def measure_size(size: int, steps: int) -> dict:
    """Medians at one image size: SGD step, ``Augmenter`` on 128 images, ``BatchStream.batch``."""
    torch.manual_seed(0)
    task = load_task("synthetic", n_train=1024, n_test=10)
    if size != 32:  # the same images at another size (tasks store float16, as here)
        resized = F.interpolate(task.train_images.float(), size=(size, size), mode="bilinear", align_corners=False)
        task = dataclasses.replace(task, train_images=resized.half())
    stream = BatchStream(task, batch_size=128, seed=0)
    augmenter = Augmenter(task.flip_symmetric)
    model = MultiscaleChain(size=size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    images, labels = stream.batch(0)
    raw = task.train_images[:128].clone()
    raw_labels = task.train_labels[:128].clone()
    generator = torch.Generator().manual_seed(0)

    def train_step():
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):  # warm-up
        train_step()
        augmenter(raw, raw_labels, generator)
        stream.batch(1)
    step_s, augment_s, batch_s = [], [], []
    for i in range(steps):
        start = time.perf_counter()
        train_step()
        step_s.append(time.perf_counter() - start)
        for _ in range(5):  # augmentation is short: several samples per step
            start = time.perf_counter()
            augmenter(raw, raw_labels, generator)
            augment_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        stream.batch(i + 2)
        batch_s.append(time.perf_counter() - start)
    return {
        "size": size,
        "shift": augmenter.shift_range((3, size, size))[0],
        "step": statistics.median(step_s),
        "augment": statistics.median(augment_s),
        "batch": statistics.median(batch_s),
        "steps": steps,
    }


def measure(steps: int, threads: int, sizes: list[int]) -> dict:
    load = load_average()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    rows = [measure_size(size, steps_at(size, steps)) for size in sizes]
    return {"load": load, "load_end": load_average(), "threads": threads, "rows": rows,
            "seconds": time.perf_counter() - started}


def section_text(result: dict) -> str:
    lines = []
    for row in result["rows"]:
        ratio, ratio_batch = row["augment"] / row["step"], row["batch"] / row["step"]
        lines.append(f"| {row['size']}x{row['size']} | ±{row['shift']} px | {row['steps']} | "
                     f"{row['step'] * 1e3:.0f} ms | {row['augment'] * 1e3:.2f} ms | {ratio:.2%} | "
                     f"{row['batch'] * 1e3:.2f} ms | {ratio_batch:.2%} |")
    worst = max(row["augment"] / row["step"] for row in result["rows"])
    table = "\n".join(lines)
    return f"""{SECTION}

Written by `python benchmarks/data_pipeline.py` ({time.strftime('%Y-%m-%d')}, {result['seconds']:.0f} s).
Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, torch {torch.__version__} using {result['threads']} threads, Python {platform.python_version()}; load average {result['load']} at the start, {result['load_end']} at the end (other processes share the machine).

Measured side by side in one run, interleaved, medians over the training steps of each size
(batch of 128 RGB images; the training step is an SGD step of the 8-layer multiscale chain with a
static classifier after layer 8, its pyramid at H, H/2, H/4, H/8 px; `Augmenter` is the
augmentation alone: shifts with mean-colour fill + flips; `BatchStream.batch` adds the indices,
the gather from the task's float16 images and the float32 conversion):

| image | shifts | steps | training step | `Augmenter` | share of a step | `BatchStream.batch` | share of a step |
|---|---|---:|---:|---:|---:|---:|---:|
{table}

Target: augmentation under 5% of a training step at every size: **{'met' if worst < 0.05 else 'NOT met'}** (at most {worst:.2%}).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps timed at 32 px")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128], help="image sizes (multiples of 8)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-write", action="store_true", help="only print, leave docs/benchmarks.md alone")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    result = measure(args.steps, args.threads, args.sizes)
    text = section_text(result)
    print(text)
    for row in result["rows"]:
        print(f"{row['size']} px: ratio augmentation / training step = {row['augment'] / row['step']:.4f}")
    if not args.no_write:
        write_section(args.out, text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
