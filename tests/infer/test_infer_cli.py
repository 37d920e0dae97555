"""``routegraph predict`` and ``routegraph calibrate`` on small run directories."""
import csv
import json

import numpy as np
import pytest
import torch

from infer_helpers import fixed_and_dynamic_runs, k_sensitive, randomize, tiny_chain_graph, write_run
from routegraph.cli.main import main
from routegraph.infer.images import to_network_input
from routegraph.nn import build_model


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return (base, *fixed_and_dynamic_runs(base))


def test_images_conversion():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    nchw = to_network_input(u8, (3, 32, 32))
    assert nchw.shape == (5, 3, 32, 32) and nchw.dtype == torch.float32
    expected = torch.from_numpy(u8.transpose(0, 3, 1, 2).astype(np.float32) / 255) ** 2.2
    torch.testing.assert_close(nchw, expected)
    torch.testing.assert_close(to_network_input(u8.transpose(0, 3, 1, 2), (3, 32, 32)), expected)
    floats = rng.random((2, 3, 32, 32), dtype=np.float32)
    torch.testing.assert_close(to_network_input(floats, (3, 32, 32)), torch.from_numpy(floats))
    assert to_network_input(floats[0], (3, 32, 32)).shape == (1, 3, 32, 32)
    from routegraph.errors import DataError

    with pytest.raises(DataError, match=r"\[N, 32, 32, 3\] or \[N, 3, 32, 32\]"):
        to_network_input(np.zeros((2, 28, 28), np.uint8), (3, 32, 32))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        to_network_input(floats * 255, (3, 32, 32))


def test_predict_writes_npz_and_csv(runs, tmp_path, capsys):
    _, fixed, _ = runs
    images = np.random.default_rng(1).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(20) % 10
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    assert main(["predict", str(fixed), str(tmp_path / "images.npy"), "--labels", str(tmp_path / "labels.npy")]) == 0
    text = capsys.readouterr().out
    assert "mean ops" in text and "accuracy" in text and "images.predictions.npz" in text
    data = np.load(tmp_path / "images.predictions.npz")
    assert data["predictions"].shape == data["exit"].shape == data["ops"].shape == (20,)
    assert list(data["classifiers"]) == ["l1.exit", "l2.exit", "l3.exit"]
    graph = tiny_chain_graph()
    assert [int(o) for o in data["ops"]] == [graph.paths[e].ops for e in data["exit"]]
    assert main(["predict", str(fixed), str(tmp_path / "images.npy"), "--out", str(tmp_path / "p.csv"), "--k-cpt", "4e-9"]) == 0
    assert "changes nothing" in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert len(rows) == 20 and set(rows[0]) == {"index", "prediction", "class_name", "exit_classifier", "exit_index", "ops"}
    assert [int(r["prediction"]) for r in rows] == data["predictions"].tolist()


def test_predict_errors_are_clear(runs, tmp_path, capsys):
    _, fixed, dynamic = runs
    np.save(tmp_path / "bad.npy", np.zeros((3, 28, 28), np.uint8))
    assert main(["predict", str(fixed), str(tmp_path / "bad.npy")]) == 2
    assert "expected [N, 32, 32, 3]" in capsys.readouterr().err
    np.save(tmp_path / "ok.npy", np.zeros((3, 3, 32, 32), np.float32))
    assert main(["predict", str(dynamic), str(tmp_path / "ok.npy")]) == 2
    assert "--k-cpt" in capsys.readouterr().err
    assert main(["predict", str(dynamic), str(tmp_path / "ok.npy"), "--k-cpt", "4e-9"]) == 0
    assert main(["predict", str(tmp_path / "nope"), str(tmp_path / "ok.npy")]) == 2


def test_calibrate_dynamic_and_fixed(runs, tmp_path, capsys):
    _, fixed, dynamic = runs
    out = tmp_path / "cal.json"
    # a budget between the k_cpt = 0 and k_cpt = max op counts of the fixture
    code = main(["calibrate", str(dynamic), "--budget-ops", "1.5e5", "--json", str(out)])
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert 0 < result["k_cpt"] <= 6.4e-8, text
    assert result["mean_ops"] <= 1.5e5 and "verification" in result
    assert "verified with path-only inference" in text
    # the verdict is the verification's (oracle: its mean ops against the budget), in the exit code and the JSON
    verified = result["verification"]["mean_ops"] <= 1.5e5
    assert result["met"] == result["verification"]["met"] == verified
    assert code == (0 if verified else 1)
    assert ("routegraph predict" in text) == verified and ("NOT met" in text) != verified
    # a budget above the deepest path: met at k_cpt = 0 on any images
    assert main(["calibrate", str(dynamic), "--budget-ops", "1e9", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["met"] is True and "routegraph predict" in capsys.readouterr().out
    assert main(["calibrate", str(dynamic), "--budget-ops", "1e3"]) == 1
    assert "NOT met" in capsys.readouterr().out
    assert main(["calibrate", str(fixed), "--budget-ops", "1e9"]) == 0
    assert "fixed" in capsys.readouterr().out


def test_calibrate_exits_1_when_only_the_verification_exceeds(runs, tmp_path, capsys, monkeypatch):
    """The search half meets a budget above the deepest path; the verification is made to overshoot by 1%."""
    from routegraph.infer.executor import route

    _, _, dynamic = runs
    full = max(p.ops for p in tiny_chain_graph(k_cpt_input=True).paths)

    def route_over_budget(*args, **kwargs):
        out = route(*args, **kwargs)
        out.ops = out.ops.new_full(out.ops.shape, int(full * 1.01))
        return out

    monkeypatch.setattr("routegraph.infer.executor.route", route_over_budget)  # calibrate_run imports it when called
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(dynamic), "--budget-ops", str(full), "--json", str(out)]) == 1
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["met"] is False and result["verification"]["met"] is False and result["k_cpt"] == 0.0
    assert "NOT met" in text and "over the budget" in text and "routegraph predict" not in text


def test_predict_labels_that_are_not_a_label_array(runs, tmp_path, capsys):
    import pickle

    _, fixed, _ = runs
    np.save(tmp_path / "images.npy", np.zeros((4, 3, 32, 32), np.float32))
    with open(tmp_path / "labels.pkl.npy", "wb") as handle:
        pickle.dump([0, 1, 2, 3], handle)
    (tmp_path / "garbage.npy").write_bytes(b"\x00\xffnot numpy at all" * 10)
    np.save(tmp_path / "objects.npy", np.array([0, 1, 2, 3], dtype=object), allow_pickle=True)
    np.save(tmp_path / "floats.npy", np.zeros(4, np.float32))
    np.save(tmp_path / "three.npy", np.zeros(3, np.int64))
    np.save(tmp_path / "big.npy", np.array([0, 1, 2, 10]))
    cases = {"labels.pkl.npy": "not a .npy array", "garbage.npy": "not a .npy array", "objects.npy": "not a .npy array",
             "floats.npy": "expected integers", "three.npy": "3 labels for 4 images", "big.npy": "class indices 0..9"}
    for name, words in cases.items():
        assert main(["predict", str(fixed), str(tmp_path / "images.npy"), "--labels", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and str(tmp_path / name) in err and words in err, err
    np.save(tmp_path / "good.npy", np.array([0, 1, 2, 3]))
    assert main(["predict", str(fixed), str(tmp_path / "images.npy"), "--labels", str(tmp_path / "good.npy")]) == 0


def test_evaluate_says_that_a_fixed_k_cpt_run_ignores_k_cpt(runs, tmp_path, capsys):
    import shutil

    _, fixed, _ = runs
    run = tmp_path / "fixed"
    shutil.copytree(fixed, run)
    assert main(["evaluate", str(run), "--k-cpt", "4e-9", "1.6e-8"]) == 0
    text = capsys.readouterr().out
    assert "trained with a fixed k_cpt=1e-08; its routers do not read k_cpt, so --k-cpt 4e-09 1.6e-08 changes nothing" in text
    records = json.loads((run / "eval.json").read_text())
    evaluations = records["evaluations"] if isinstance(records, dict) else records
    assert [e["k_cpt"] for e in evaluations] == [1e-8]  # evaluated once, at the run's own k_cpt


def test_k_cpt_nan_is_refused_by_the_python_api(runs):
    from routegraph.errors import ConfigError
    from routegraph.train.evaluate import evaluate

    model = randomize(build_model(tiny_chain_graph()), seed=2)
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ConfigError, match="k_cpt must be a finite number >= 0|k_cpt must be >= 0"):
            evaluate(model, torch.rand(2, 3, 32, 32), torch.zeros(2), bad)


def test_a_predictions_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """A failure while writing leaves the old predictions file as it was, and no temporary file."""
    import torch

    from routegraph.infer import RoutedOutput
    from routegraph.infer.predict import write_predictions

    out = RoutedOutput(torch.tensor([1, 0]), torch.tensor([0, 0]), torch.tensor([5, 5]), None, ("l1.exit",))
    for name in ("p.csv", "p.npz"):
        path = tmp_path / name
        path.write_text("old")

        class Boom(Exception):
            pass

        def fail(*args, **kwargs):
            raise Boom()

        with monkeypatch.context() as m:
            m.setattr("csv.writer", fail)
            m.setattr("numpy.savez", fail)
            try:
                write_predictions(path, out, ["a", "b"], None)
            except Boom:
                pass
        assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))== []
        write_predictions(path, out, ["a", "b"], None)
        assert path.stat().st_size > 0 and path.read_bytes() != b"old"
