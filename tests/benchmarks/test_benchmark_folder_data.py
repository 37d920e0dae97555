"""benchmarks/folder_data.py: its memory probe reads this process's own numbers, and a tiny run of
the whole benchmark (slow) prints one table row per size."""
import importlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("folder_data")


def test_status_separates_anonymous_from_file_backed_memory(bench, tmp_path):
    size = 64 << 20
    (tmp_path / "a.bin").write_bytes(b"\1" * size)
    before = bench.status_kib(os.getpid())
    assert before["RssAnon"] > 0 and before["VmHWM"] >= before["VmRSS"]
    mapped = np.memmap(tmp_path / "a.bin", mode="c", dtype=np.uint8)  # as the folder cache is loaded
    assert int(mapped[::4096].sum()) == size // 4096  # every page read through the map
    read = bench.status_kib(os.getpid())
    copied = np.array(mapped)  # a copy: anonymous
    after = bench.status_kib(os.getpid())
    assert read["RssFile"] - before["RssFile"] > 48 << 10 and read["RssAnon"] - before["RssAnon"] < 16 << 10
    assert after["RssAnon"] - read["RssAnon"] > 48 << 10
    assert bench.status_kib(-1) == {} and copied[0] == 1  # no such process


@pytest.mark.slow
def test_a_tiny_run_prints_a_row_per_size(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["folder_data.py", "--images", "60", "120", "--iterations", "2",
                                      "--eval-every", "1", "--work", str(tmp_path)])
    bench.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 60") or line.startswith("| 120")]
    assert len(rows) == 2
