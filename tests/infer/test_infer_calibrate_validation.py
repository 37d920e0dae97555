"""``routegraph calibrate`` picks and verifies on the run's validation split, never on the test split."""
import json

import pytest

from infer_helpers import k_sensitive, tiny_chain_graph, write_run
from routegraph.cli.main import main
from routegraph.nn import build_model
from split_guard import guarded_task


@pytest.fixture
def guarded(monkeypatch):
    task = guarded_task(n_train=192, n_test=96)  # write_run's options for n_test=96
    monkeypatch.setattr("routegraph.data.load_task", lambda *a, **k: task)
    return task


def dynamic_run(path):
    return write_run(path, k_sensitive(build_model(tiny_chain_graph(k_cpt_input=True)), seed=1), dynamic=True,
                     n_test=96)


def test_calibrate_uses_the_validation_halves(tmp_path, guarded, capsys):
    run = dynamic_run(tmp_path / "run")
    out = tmp_path / "cal.json"
    main(["calibrate", str(run), "--budget-ops", "1.5e5", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["split"] == "val" and result["validation"] == {"source": "train", "seed": 0, "n": 96,
                                                                 "held_out": True}
    assert result["n"] == 48 and result["verification"]["n"] == 48  # the two halves of the 96 held-out images
    assert "warning" not in capsys.readouterr().err


def without_validation(run, validation=None):
    """``run`` as if trained before validation splits (no record), or with the record ``validation``."""
    config = json.loads((run / "config.json").read_text())
    config.pop("validation")
    if validation is not None:
        config["validation"] = validation
    (run / "config.json").write_text(json.dumps(config))
    return run


NO_IMAGES = {"val_fraction": 0.0, "val_max": 0, "source": "train", "seed": 0, "n": 0}


@pytest.mark.parametrize("validation, why", [(None, "predates validation splits"), (NO_IMAGES, "no validation images")])
def test_a_run_with_nothing_held_out_is_refused_in_one_line(tmp_path, guarded, capsys, validation, why):
    run = without_validation(dynamic_run(tmp_path / "run"), validation)
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(run), "--budget-ops", "1e9", "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and why in err and "--on-test-split" in err and "retrain" in err
    assert not out.exists()


@pytest.mark.parametrize("validation", [None, NO_IMAGES])
def test_on_test_split_calibrates_such_a_run_on_the_test_split_marked_not_held_out(tmp_path, monkeypatch, capsys,
                                                                                  validation):
    from routegraph.data import load_task

    task = load_task("synthetic", n_train=192, n_test=96)
    monkeypatch.setattr("routegraph.data.load_task", lambda *a, **k: task)
    run = without_validation(dynamic_run(tmp_path / "run"), validation)
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(run), "--budget-ops", "1e9", "--on-test-split", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["split"] == "test" and result["validation"] == {"source": "test", "n": 96, "held_out": False}
    assert result["n"] == 48 and result["verification"]["n"] == 48  # the two halves of the 96 test images
    assert "not held out" in capsys.readouterr().err


def test_on_test_split_is_refused_for_a_run_with_a_validation_split(tmp_path, guarded, capsys):
    run = dynamic_run(tmp_path / "run")
    assert main(["calibrate", str(run), "--budget-ops", "1e9", "--on-test-split"]) == 2
    err = capsys.readouterr().err
    assert "has a validation split" in err and "drop --on-test-split" in err
