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


def test_a_run_from_before_the_split_is_calibrated_with_a_warning(tmp_path, guarded, capsys):
    run = dynamic_run(tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    del config["validation"]
    (run / "config.json").write_text(json.dumps(config))
    out = tmp_path / "cal.json"
    main(["calibrate", str(run), "--budget-ops", "1e9", "--json", str(out)])
    result = json.loads(out.read_text())
    # today's default slice (10% of 192 training images), which the run trained on
    assert result["validation"]["held_out"] is False and result["validation"]["n"] == 19
    assert "predates validation splits" in capsys.readouterr().err


def test_a_run_without_validation_images_is_a_clear_error(tmp_path, guarded, capsys):
    run = dynamic_run(tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config["validation"] = {"val_fraction": 0.0, "val_max": 0, "source": "train", "seed": 0, "n": 0}
    (run / "config.json").write_text(json.dumps(config))
    assert main(["calibrate", str(run), "--budget-ops", "1e9"]) == 2
    assert "no validation images" in capsys.readouterr().err
