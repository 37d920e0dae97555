"""Finding and reading run directories for pictures."""
import json
import sys

import pytest

import viz_fakes
from routegraph.errors import CheckpointError, ConfigError, RouteGraphError
from routegraph.viz.runs import NoRunsError, NotARunError, display_names, find_runs, load_run_info, sort_by_k_cpt


def test_a_directory_of_runs_a_run_and_globs(experiment):
    runs = find_runs([experiment])
    assert len(runs) == 9
    assert [r.name for r in find_runs([experiment / "ac-2e-09"])] == ["ac-2e-09"]
    assert sorted(r.name for r in find_runs([str(experiment / "sr-*")])) == ["sr-1", "sr-2", "sr-3"]
    # duplicates (a run named twice) are read once
    assert len(find_runs([experiment, experiment / "sr-1"])) == 9


def test_nested_directories(tmp_path, chain):
    viz_fakes.make_run(tmp_path / "sweep" / "a", "r1", chain)
    viz_fakes.make_run(tmp_path / "sweep" / "b", "r1", chain)
    runs = find_runs([tmp_path])
    assert len(runs) == 2
    assert sorted(display_names(runs).values()) == ["a/r1", "b/r1"]


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "missing", "no such run directory"),
    (lambda root: str(root / "zz-*"), "no run directories match"),
    (lambda root: root / "runs" / "sr-1" / "config.json", "a file, not a run directory"),
    (lambda root: root / "empty", "no run directories inside it"),
])
def test_user_errors_are_routegraph_errors(experiment, make, message):
    (experiment.parent / "empty").mkdir()
    with pytest.raises(RouteGraphError, match=message):
        find_runs([make(experiment.parent)])


def test_no_paths():
    with pytest.raises(NoRunsError):
        find_runs([])


def test_not_a_routegraph_run(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(NotARunError, match="not a routegraph run"):
        load_run_info(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match=r"config.json:1:2: invalid JSON"):
        load_run_info(tmp_path)


def test_lazy_files_and_their_errors(tmp_path, chain):
    path = viz_fakes.make_run(tmp_path, "r", chain)
    run = load_run_info(path)
    assert "graph" not in run.__dict__  # compiled.json not read yet
    assert run.graph.classifiers == chain.classifiers
    assert run.class_names == ["class0", "class1", "class2", "class3"]
    assert [i for i, _ in run.eval_history] == [100, 200, 300, 400]
    assert run.training_log[0]["iteration"] == 50
    # a run still writing: the truncated last line is skipped; a broken line elsewhere is an error
    metrics = path / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"iteration": 45')
    assert len(load_run_info(path).metrics) == len(run.metrics)
    metrics.write_text('{"iteration": 1\n' + metrics.read_text())
    with pytest.raises(CheckpointError, match=r"metrics.jsonl:1:"):
        load_run_info(path).metrics
    (path / "compiled.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a routegraph compiled graph"):
        load_run_info(path).graph


def test_evaluations(tmp_path, chain):
    run = load_run_info(viz_fakes.make_run(tmp_path, "r", chain, k_cpt=2e-9, k_values=[0.0, 2e-9, 8e-9]))
    assert run.evaluation()["k_cpt"] == 2e-9
    assert run.evaluation(8e-9)["k_cpt"] == 8e-9
    with pytest.raises(ConfigError, match=r"no evaluation at k_cpt=1e-07 .*routegraph evaluate"):
        run.evaluation(1e-7)
    assert len(run.dataflow_evaluations()) == 1
    dynamic = load_run_info(viz_fakes.make_run(tmp_path, "d", chain, k_cpt=None, dynamic=True))
    assert len(dynamic.dataflow_evaluations()) == 6
    unevaluated = load_run_info(viz_fakes.make_run(tmp_path, "u", chain, with_eval=False))
    assert unevaluated.evaluation() is None and unevaluated.dataflow_evaluations() == []


def test_sort_by_k_cpt(experiment):
    runs = sort_by_k_cpt(find_runs([experiment]))
    ks = [r.k_cpt for r in runs]
    assert ks[-1] is None and ks[:-1] == sorted(ks[:-1])


def test_reading_runs_does_not_import_torch(experiment):
    import subprocess

    code = ("import sys; from routegraph.viz.runs import find_runs; "
            f"runs = find_runs([{str(experiment)!r}]); [r.graph for r in runs]; "
            "import routegraph.viz.curves, routegraph.viz.dataflow, routegraph.viz.report; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
