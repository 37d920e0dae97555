"""The user's own arrays end to end with the CLI alone: train (every strategy) -> evaluate -> calibrate ->
render -> predict, on 12-D feature vectors (a routed MLP) and on 2-channel 20x28 images (a routed CNN).

The data are Gaussian blobs (tests/npz_arrays.py), separable by construction. Asserted is what holds
by construction (files, shapes, row counts), and for the MLP an accuracy above chance: measured 1.000
test accuracy after these 30 iterations for every strategy at seeds 0-5 (24 runs), against 1/3 by
chance; the test asks for more than 1/2.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from npz_arrays import CLASSES, blobs, write_npz

from routegraph.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures"
MLP, CNN = FIXTURES / "mlp_12.yaml", FIXTURES / "tiny_chain_2x20x28.yaml"
METHODS = ("static", "actor", "pragmatic_critic", "optimistic_critic")


def _train(spec, data, run, *extra) -> int:
    return main(["train", str(spec), "--data", f"npz:{data}", "--out", str(run), "--iterations", "30",
                 "--batch-size", "16", "--no-progress", *extra])


@pytest.mark.parametrize("method", METHODS)
def test_every_strategy_trains_on_feature_vectors(tmp_path, method):
    data = write_npz(tmp_path / "blobs.npz")
    run = tmp_path / "run"
    assert _train(MLP, data, run, "--strategy", method) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["class_names"] == list(CLASSES) and config["data"] == f"npz:{data}"
    assert config["augmentation"] == {"applied": False, "reason": "inputs of shape [12] are not images [C, H, W]"}
    assert config["validation"]["source"] == "train" and config["validation"]["n"] == 12  # 10% of 120, stratified
    evaluations = json.loads((run / "eval.json").read_text())["evaluations"]
    assert [e["n"] for e in evaluations] == [30]
    assert evaluations[0]["error_rate"] < 0.5  # chance: 2/3 (see the module doc for the measured margin)


def test_evaluate_calibrate_render_predict_on_feature_vectors(tmp_path, capsys):
    data = write_npz(tmp_path / "blobs.npz")
    run = tmp_path / "run"
    assert _train(MLP, data, run, "--dynamic-k-cpt", "--k-cpt-set", "0", "1e-6") == 0
    assert main(["evaluate", str(run)]) == 0
    assert [e["n"] for e in json.loads((run / "eval.json").read_text())["evaluations"]] == [30, 30]
    calibration = tmp_path / "calibration.json"
    assert main(["calibrate", str(run), "--budget-ops", "1e9", "--json", str(calibration)]) == 0
    assert json.loads(calibration.read_text())["split"] == "val"  # held-out train rows, never the test split
    diagram = tmp_path / "dataflow.svg"
    assert main(["render", str(run), "--dataflow", "classes", "-o", str(diagram)]) == 0
    assert all(name in diagram.read_text() for name in CLASSES)
    assert main(["render", str(MLP), "-o", str(tmp_path / "architecture.svg")]) == 0  # the spec, input [12]
    assert main(["report", str(run), "-o", str(tmp_path / "report.html")]) == 0
    assert (tmp_path / "architecture.svg").stat().st_size and (tmp_path / "report.html").stat().st_size

    x, _ = blobs(3, seed=9)  # 9 rows, values far outside [0, 1]: used as they are
    np.save(tmp_path / "new.npy", x)
    np.savez(tmp_path / "new.npz", x=x[:4])
    capsys.readouterr()
    for source, n in (("new.npy", 9), ("new.npz", 4)):
        out = tmp_path / f"{source}.csv"
        assert main(["predict", str(run), str(tmp_path / source), "--k-cpt", "0", "--out", str(out)]) == 0
        rows = list(csv.DictReader(out.open()))
        assert [int(r["index"]) for r in rows] == list(range(n)) and "file" not in rows[0]
        assert all(r["class_name"] in CLASSES and r["exit_classifier"] in ("exit1", "exit2") for r in rows)
    assert main(["predict", str(run), str(tmp_path / "new.npz"), "--k-cpt", "0"]) == 0
    assert (tmp_path / "new.predictions.csv").is_file()  # the default output of a .npz


def test_predict_errors_name_the_file(tmp_path, capsys):
    data = write_npz(tmp_path / "blobs.npz")
    run = tmp_path / "run"
    assert _train(MLP, data, run) == 0
    np.save(tmp_path / "wide.npy", np.zeros((4, 13), np.float32))
    np.savez(tmp_path / "nox.npz", inputs=np.zeros((4, 12), np.float32))
    np.save(tmp_path / "nan.npy", np.full((4, 12), np.nan, np.float32))
    for name, phrase in (("wide.npy", "expected [N, 12]"), ("nox.npz", "no key 'x'"), ("nan.npy", "NaN")):
        capsys.readouterr()
        assert main(["predict", str(run), str(tmp_path / name), "--out", str(tmp_path / "p.csv")]) == 2
        err = capsys.readouterr().err.strip()
        assert str(tmp_path / name) in err and phrase in err and len(err.splitlines()) == 1


def test_a_spec_input_that_differs_from_the_arrays_is_one_line_naming_file_and_key(tmp_path, capsys):
    data = write_npz(tmp_path / "ten.npz", shape=(10,))
    assert _train(MLP, data, tmp_path / "run") == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"{data}: x_train: examples of shape [10], but the spec's input is [12]; "
                                "write the spec's input as [10]"]
    assert not (tmp_path / "run").exists()


def test_images_of_two_channels_non_square_train_augmented_and_predict(tmp_path, capsys):
    data = write_npz(tmp_path / "maps.npz", shape=(2, 20, 28), n_train=8, n_test=3)
    run = tmp_path / "run"
    assert main(["train", str(CNN), "--data", f"npz:{data}", "--out", str(run), "--iterations", "3",
                 "--batch-size", "8", "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["augmentation"] == {"applied": True}
    assert main(["evaluate", str(run)]) == 0
    x, _ = blobs(2, shape=(2, 20, 28), seed=5)
    np.save(tmp_path / "maps.npy", x)
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "maps.npy"), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(list(csv.DictReader((tmp_path / "p.csv").open()))) == 6
    capsys.readouterr()
    assert main(["data", "show", f"npz:{data}", "-o", str(tmp_path / "sheet.png")]) == 2  # 2 channels: not drawable
    assert "contact sheet draws images only" in capsys.readouterr().err
