"""The library side of ``calibrate`` and ``predict`` (routegraph.infer.budget, routegraph.infer.predict)
is callable from Python and gives what the commands write: the commands only parse and print."""
import json

import numpy as np
import pytest

from infer_helpers import fixed_and_dynamic_runs
from routegraph.cli.main import main
from routegraph.errors import ConfigError
from routegraph.infer import route
from routegraph.infer.budget import calibrate_saved_run
from routegraph.infer.predict import load_inputs, resolve_k_cpt, write_predictions
from routegraph.train.rundir import load_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return fixed_and_dynamic_runs(tmp_path_factory.mktemp("runs"))


@pytest.mark.parametrize("which", ["fixed", "dynamic"])
def test_calibrate_saved_run_is_what_the_command_writes(runs, tmp_path, capsys, which):
    run = dict(zip(["fixed", "dynamic"], runs))[which]
    out = tmp_path / "cal.json"
    code = main(["calibrate", str(run), "--budget-ops", "1.5e5", "--json", str(out)])
    capsys.readouterr()
    found = calibrate_saved_run(run, 1.5e5)  # a path; a loaded run works too
    assert found.to_json() == json.loads(out.read_text())
    assert code == (0 if found.result.met else 1)
    assert calibrate_saved_run(load_run(run), 1.5e5).to_json() == found.to_json()
    assert found.held_out and found.split == "val"


def test_predict_from_python_writes_the_commands_file(runs, tmp_path, capsys):
    _, dynamic = runs
    images = np.random.default_rng(3).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    assert main(["predict", str(dynamic), str(tmp_path / "images.npy"), "--k-cpt", "4e-9",
                 "--out", str(tmp_path / "cli.npz")]) == 0
    capsys.readouterr()
    run = load_run(dynamic)
    k, note = resolve_k_cpt(run.config, run.graph, 4e-9)
    assert (k, note) == (4e-9, "")
    inputs, files = load_inputs(run, str(tmp_path / "images.npy"))
    assert files is None
    write_predictions(tmp_path / "api.npz", route(run.model, inputs, k), run.config["class_names"], k)
    cli, api = np.load(tmp_path / "cli.npz"), np.load(tmp_path / "api.npz")
    assert sorted(cli.files) == sorted(api.files)
    for key in cli.files:
        assert np.array_equal(cli[key], api[key], equal_nan=cli[key].dtype.kind == "f"), key


def test_resolve_k_cpt_refuses_a_dynamic_run_without_k_and_notes_a_fixed_one(runs):
    fixed, dynamic = runs
    run = load_run(dynamic, with_model=False)
    with pytest.raises(ConfigError, match="this run has dynamic k_cpt: pass --k-cpt"):
        resolve_k_cpt(run.config, run.graph, None)
    run = load_run(fixed, with_model=False)
    assert resolve_k_cpt(run.config, run.graph, 1e-8) == (None, "")
    k, note = resolve_k_cpt(run.config, run.graph, 4e-9)
    assert k is None and "changes nothing" in note
