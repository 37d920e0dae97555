"""eval.json holds a run's results on its own data only (issue 16: evaluating with other data
options, same classes, replaced the run's record); other data is printed, and written with --json."""
import json

from routegraph.cli.main import main
from routegraph.nn import build_model

from infer_helpers import randomize, tiny_chain_graph, write_run


def test_other_data_options_leave_eval_json_alone_and_go_to_json(tmp_path, capsys):
    run = write_run(tmp_path / "run", randomize(build_model(tiny_chain_graph()), seed=2), dynamic=False, k_cpt=1e-8)
    assert main(["evaluate", str(run)]) == 0
    own = (run / "eval.json").read_bytes()
    assert main(["evaluate", str(run), "--data-option", "clutter=3", "--json", str(tmp_path / "other.json")]) == 0
    out = capsys.readouterr().out
    assert "is not the data this run was trained on" in out
    assert (run / "eval.json").read_bytes() == own
    other = json.loads((tmp_path / "other.json").read_text())
    trained_on = json.loads((run / "config.json").read_text())["data_options"]
    assert other["data"] == "synthetic" and other["data_options"] == {**trained_on, "clutter": 3}
    mine = json.loads(own)["evaluations"][0]
    assert other["evaluations"][0]["n"] == mine["n"] and other["evaluations"][0] != mine  # other images
    # the run's own data again: merged as before (same k_cpt, same numbers)
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "eval.json").read_bytes()) == json.loads(own)


def test_another_task_does_not_inherit_the_runs_data_options(tmp_path):
    from routegraph.train.rundir import Run, task_choice

    run = Run(tmp_path, {"data": "synthetic", "data_options": {"n_train": 10}}, None)
    assert task_choice(run, "cifar2", {"rebuild": True}) == ("cifar2", {"rebuild": True})
    assert task_choice(run, "synthetic", {"n_test": 5}) == ("synthetic", {"n_train": 10, "n_test": 5})
