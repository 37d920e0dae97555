"""A user's own photos end to end with the CLI alone: train -> evaluate -> calibrate -> render -> predict.

The photos are 44x52 PNG/JPEG files; the spec's input is [3, 40, 48], so every image is resized
(shorter side, then centre crop) on the way in, by training and by predict alike.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from folder_images import CLASSES, COUNTS, write_folder

from routegraph.cli.main import main
from routegraph.data import load_task
from routegraph.infer.images import load_image_files

SPEC = Path(__file__).parent / "fixtures" / "tiny_chain_40x48.yaml"


def test_train_evaluate_calibrate_render_predict_on_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = write_folder(tmp_path / "photos", height=44, width=52)
    data, run = ["--data-dir", str(tmp_path / "data")], tmp_path / "run"
    assert main(["train", str(SPEC), "--data", f"folder:{root}", *data, "--out", str(run), "--iterations", "3",
                 "--batch-size", "8", "--dynamic-k-cpt", "--k-cpt-set", "0", "1e-6", "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["class_names"] == list(CLASSES)
    assert config["data_options"] == {"size": "40x48", "channels": 3}  # from the spec's input shape

    assert main(["evaluate", str(run), *data]) == 0  # finds the run's cache again from config.json
    evaluations = json.loads((run / "eval.json").read_text())
    assert evaluations["class_names"] == list(CLASSES)
    assert [e["n"] for e in evaluations["evaluations"]] == [sum(COUNTS["test"])] * 2  # k_cpt 0 and 1e-6

    assert main(["calibrate", str(run), *data, "--budget-ops", "1e9"]) == 0

    diagram = tmp_path / "dataflow.svg"
    assert main(["render", str(run), "--dataflow", "classes", "-o", str(diagram)]) == 0
    svg = diagram.read_text()
    assert all(name in svg for name in CLASSES)

    capsys.readouterr()
    predictions = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(root / "test"), "--k-cpt", "0", "--out", str(predictions)]) == 0
    rows = list(csv.DictReader(predictions.open()))
    files = sorted(str(p.relative_to(root / "test")) for p in (root / "test").rglob("*.*"))
    assert [r["file"] for r in rows] == files and all(r["class_name"] in CLASSES for r in rows)

    # predict decodes exactly as the task cache was built (up to the cache's float16).
    task = load_task(f"folder:{root}", tmp_path / "data", size="40x48")
    images, names = load_image_files(root / "test", (3, 40, 48))
    assert names == files
    torch.testing.assert_close(images, task.test_images.float(), atol=1e-3, rtol=0)

    # several files, as a shell expands an unquoted glob: one row per file, in the order given, each
    # predicted as in the folder's run; an array among them is refused (one line, exit 2).
    chosen = [root / "test" / name for name in reversed(files[:3])]
    several = tmp_path / "several.csv"
    assert main(["predict", str(run), *map(str, chosen), "--k-cpt", "0", "--out", str(several)]) == 0
    by_file = {r["file"]: r["prediction"] for r in rows}
    again = list(csv.DictReader(several.open()))
    assert [r["file"] for r in again] == [str(p) for p in chosen]
    assert [r["prediction"] for r in again] == [by_file[str(p.relative_to(root / "test"))] for p in chosen]
    capsys.readouterr()
    assert main(["predict", str(run), str(chosen[0]), str(tmp_path / "x.npy"), "--k-cpt", "0"]) == 2
    assert "give one .npy or .npz file" in capsys.readouterr().err
