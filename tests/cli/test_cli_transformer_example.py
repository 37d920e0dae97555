"""The routed transformer example with the CLI as docs/examples.md shows it: make the data with
examples/transformer/make_data.py, train a few iterations on npz:PATH, evaluate, render the
architecture and the dataflow picture, predict on [N, T, D] arrays."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from routegraph.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "specs" / "transformer_routed.yaml"


def test_make_data_train_evaluate_render(tmp_path):
    data = tmp_path / "seq.npz"
    subprocess.run([sys.executable, str(REPO / "examples" / "transformer" / "make_data.py"), str(data),
                    "--train", "96", "--test", "32"], check=True, capture_output=True)
    run = tmp_path / "run"
    assert main(["train", str(SPEC), "--data", f"npz:{data}", "--out", str(run), "--iterations", "4",
                 "--batch-size", "16", "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["augmentation"]["applied"] is False  # sequences are not images
    assert main(["evaluate", str(run)]) == 0
    evaluation = json.loads((run / "eval.json").read_text())["evaluations"][-1]
    assert evaluation["n"] == 32
    flow = tmp_path / "flow.svg"
    assert main(["render", str(run), "--dataflow", "classes", "-o", str(flow)]) == 0
    assert "motif0" in flow.read_text()
    architecture = tmp_path / "architecture.svg"
    assert main(["render", str(SPEC), "-o", str(architecture)]) == 0
    assert "b3.exit" in architecture.read_text()
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.load(data)["x_test"])
    predictions = tmp_path / "preds.csv"
    assert main(["predict", str(run), str(inputs), "--out", str(predictions)]) == 0
    rows = list(csv.DictReader(predictions.open()))
    assert len(rows) == 32 and {r["exit_classifier"] for r in rows} <= {"b1.exit", "b2.exit", "b3.exit"}
