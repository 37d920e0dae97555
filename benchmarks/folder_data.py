"""Benchmark: a folder of the user's own images, prepared once and trained from its memory-mapped cache.

For each size given with ``--images`` (training images; the test split is a
fifth as many), writes generated photo-like files (72x80, half PNG, half JPEG,
10 classes, deterministic: seed 0) in the ImageFolder layout, then, each in a
fresh process so that its memory is its own:

1. ``routegraph data prepare folder:DIR --data-option size=64x64``: decode,
   resize (shorter side, centre crop) and write the float16 cache;
2. ``routegraph train`` of a tiny chain with a [3, 64, 64] input, batch 128,
   for ``--iterations`` steps with a periodic evaluation on the validation
   carve-out (``--eval-every``), then the final evaluation on the test split.

While each runs, this process samples the child's ``/proc/PID/status`` every
10 ms and reports the peak **RssAnon** (anonymous memory: what must fit in RAM)
and the peak **RssFile** (pages of the memory-mapped cache and of the shared
libraries: page cache the kernel can drop and re-read), and the peak RSS
(``VmHWM``). If the peak RssAnon is the same at both sizes while RssFile grows,
the training split is read through the map, never copied into memory.

``--memory-limit MIB`` also runs the training in a cgroup (v1 ``memory`` or v2)
whose limit (page cache included) is that many MiB: a cache larger than the
limit must still train, by the kernel dropping mapped pages it has read.
The numbers and what they show are in docs/data.md, "Larger than memory".

    python benchmarks/folder_data.py [--images 4000 16000] [--iterations 60] [--memory-limit MIB] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLASSES = 10
SPEC_FROM, SPEC_TO = ("shape: [3, 32, 32]", "sizes: [16, 8, 4]"), ("shape: [3, 64, 64]", "sizes: [32, 16, 8]")
HARNESS = "import sys; from routegraph.cli.main import main; sys.exit(main(sys.argv[1:]))"
CGROUP_ROOTS = (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


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


def status_kib(pid: int) -> dict[str, int]:
    """RssAnon, RssFile, VmRSS, VmHWM of ``pid`` in KiB (empty once it has exited)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = (line.split(":") for line in lines)
    return {k: int(v.split()[0]) for k, v in fields if k in ("RssAnon", "RssFile", "VmRSS", "VmHWM")}


class MemoryCgroup:
    """A memory cgroup limited to ``mib`` (v1 ``memory.limit_in_bytes`` or v2 ``memory.max``), or None
    from :meth:`make` when no cgroup hierarchy here is writable."""

    def __init__(self, path: Path, v1: bool):
        self.path, self.v1 = path, v1

    @classmethod
    def make(cls, mib: int) -> "MemoryCgroup | None":
        for root in CGROUP_ROOTS:
            v1 = (root / "memory.limit_in_bytes").exists() or root.name == "memory"
            if not (root / "cgroup.procs").exists() or (not v1 and "memory" not in _controllers(root)):
                continue
            path = root / f"routegraph-bench-{os.getpid()}"
            try:
                path.mkdir()
                (path / ("memory.limit_in_bytes" if v1 else "memory.max")).write_text(str(mib << 20))
                if v1 and (path / "memory.memsw.limit_in_bytes").exists():
                    (path / "memory.memsw.limit_in_bytes").write_text(str(mib << 20))
            except OSError:
                cls(path, v1).remove()  # not writable here (or no such limit file): try the next hierarchy
                continue
            return cls(path, v1)
        return None

    def join(self) -> None:
        """Move the calling process in (a ``preexec_fn``)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def failures(self) -> int | None:
        """How often the limit was hit (v1 ``memory.failcnt``; v2 ``memory.events`` ``max``)."""
        if self.v1:
            return int((self.path / "memory.failcnt").read_text())
        events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
        return int(events.get("max", 0))

    def peak_mib(self) -> int | None:
        file = self.path / ("memory.max_usage_in_bytes" if self.v1 else "memory.peak")
        return int(file.read_text()) >> 20 if file.exists() else None

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass


def _controllers(root: Path) -> str:
    try:
        return (root / "cgroup.controllers").read_text()
    except OSError:
        return ""


def run_cli(args: list[str], cgroup: MemoryCgroup | None = None) -> dict:
    """Run one CLI command in a fresh process: wall seconds, peak RssAnon / RssFile / RSS (MiB), exit code."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", HARNESS, *args], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, preexec_fn=cgroup.join if cgroup else None,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    peak = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}

    def sample():
        while child.poll() is None:
            for key, value in status_kib(child.pid).items():
                if key in peak:
                    peak[key] = max(peak[key], value)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    sampler.join()
    return {"seconds": time.perf_counter() - start, "code": child.returncode, "stdout": out, "stderr": err,
            "anon": peak["RssAnon"] >> 10, "file": peak["RssFile"] >> 10, "rss": peak["VmHWM"] >> 10}


def drop_page_cache(folder: Path) -> None:
    """Evict the (clean, fsynced) cache files from the page cache, so each training run reads them from disk."""
    for path in folder.rglob("*.npy"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def checked(result: dict, what: str) -> dict:
    if result["code"] != 0:
        raise SystemExit(f"{what} failed (exit {result['code']}):\n{result['stderr'][-3000:]}")
    return result


def one_size(work: Path, n: int, args, spec: Path) -> dict:
    photos, data, run = work / f"photos-{n}", work / f"data-{n}", work / f"run-{n}"
    start = time.perf_counter()
    if not photos.exists():
        write_images(photos, n)
    print(f"[{n}] wrote {n} + {n // 5} images ({du(photos) / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s")
    task = [f"folder:{photos}", "--data-dir", str(data)]
    prep = checked(run_cli(["data", "prepare", *task, "--data-option", "size=64x64", "--force"]), "prepare")
    cache = du(data) / 2**20
    print(f"[{n}] prepare: {prep['seconds']:.1f} s, cache {cache:.0f} MiB, peak RssAnon {prep['anon']} MiB, "
          f"RssFile {prep['file']} MiB, RSS {prep['rss']} MiB")
    train = ["train", str(spec), "--data", *task, "--iterations", str(args.iterations), "--batch-size", "128",
             "--log-every", "10", "--no-progress", "--threads", "1", "--checkpoint-every", "0",
             "--eval-every", str(args.eval_every), "--eval-examples", "0"]
    runs = {}
    for name, cgroup in [("free", None)] + ([("limited", "make")] if args.memory_limit else []):
        if cgroup == "make":
            cgroup = MemoryCgroup.make(args.memory_limit)
            if cgroup is None:
                print(f"[{n}] no writable cgroup (tried {', '.join(map(str, CGROUP_ROOTS))}): "
                      "not run under a memory limit")
                break
        shutil.rmtree(run, ignore_errors=True)
        drop_page_cache(data)  # else pages cached by the prepare step are not charged to the limited cgroup
        try:
            result = run_cli(train + ["--out", str(run)], cgroup)
            result["cgroup_peak"] = cgroup.peak_mib() if cgroup else None
            result["cgroup_failures"] = cgroup.failures() if cgroup else None
        finally:
            if cgroup:
                cgroup.remove()
        if result["code"] != 0:
            print(f"[{n}] train ({name}) FAILED, exit {result['code']}: {result['stderr'][-500:]}")
            runs[name] = result
            continue
        rates = [json.loads(line).get("examples_per_s") for line in (run / "metrics.jsonl").read_text().splitlines()]
        rates = [r for r in rates if r]
        rates = rates[1:] or rates  # the first logged interval includes warm-up
        result["step_ms"] = 128 / float(np.median(rates)) * 1000 if rates else float("nan")
        limit = (f" under a {args.memory_limit} MiB cgroup limit (peak charged {result['cgroup_peak']} MiB, "
                 f"limit reached {result['cgroup_failures']} times)") if cgroup else ""
        print(f"[{n}] train{limit}: {args.iterations} steps of batch 128 in {result['seconds']:.1f} s (whole "
              f"command), step {result['step_ms']:.0f} ms, peak RssAnon {result['anon']} MiB, RssFile "
              f"{result['file']} MiB, RSS {result['rss']} MiB")
        runs[name] = result
    return {"n": n, "cache_mib": cache, "prepare": prep, **runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[4000, 16000],
                        help="training images of each folder (test: a fifth as many)")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--eval-every", type=int, default=30, help="periodic evaluation on the validation split")
    parser.add_argument("--memory-limit", type=int, metavar="MIB",
                        help="also train under a cgroup memory limit of this many MiB")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one, removed)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rg-folder-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    try:
        spec = work / "spec.yaml"
        text = (ROOT / "specs" / "tiny_chain.yaml").read_text().replace("num_classes: 10", f"num_classes: {CLASSES}")
        for old, new in zip(SPEC_FROM, SPEC_TO):
            text = text.replace(old, new)
        spec.write_text(text.replace("../docs/", str(ROOT / "docs") + "/"))
        results = [one_size(work, n, args, spec) for n in args.images]
        print("\n| train images | cache | prepare | step | peak RssAnon | peak RssFile | peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            for name in ("free", "limited"):
                t = r.get(name)
                if t and t["code"] == 0:
                    label = "" if name == "free" else f" (limit {args.memory_limit} MiB)"
                    print(f"| {r['n']:,}{label} | {r['cache_mib']:.0f} MiB | {r['prepare']['seconds']:.1f} s | "
                          f"{t['step_ms']:.0f} ms | {t['anon']} MiB | {t['file']} MiB | {t['rss']} MiB |")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
