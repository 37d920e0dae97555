"""The run-directory format's one home (routegraph/runs.py): torch-free, every reader reports a
damaged file the same way, and what is read writes back byte for byte."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from routegraph import runs
from routegraph.cli.main import main
from routegraph.errors import CheckpointError

REPO = Path(__file__).resolve().parents[1]
SAVED = sorted(p.parent for p in (REPO / "docs" / "results" / "runs").glob("*/*/config.json"))
ONE_SAVED = next(p for p in SAVED if (p / "metrics.jsonl").exists())


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_sweep_and_viz_import_without_torch():
    """The command of issue 19, exactly: torch made unimportable, sweeps and pictures still load."""
    result = _python("import sys; sys.modules['torch'] = None; import routegraph.sweep, routegraph.viz")
    assert result.returncode == 0, result.stderr


def test_run_records_and_train_config_import_no_torch():
    result = _python("import sys, routegraph.runs, routegraph.train.config, routegraph.train.rundir, "
                     "routegraph.viz.runs, routegraph.sweep\n"
                     "assert 'torch' not in sys.modules, 'torch was imported'")
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------- damaged files
NOT_UTF8 = b"\xff\xfe{\x80"


@pytest.fixture
def run_copy(tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(ONE_SAVED, run)
    return run


def _readers(name: str):
    """Every reader of the file ``name`` in a run directory, each a function of the run path."""
    from routegraph.train.hooks import MetricsLogger
    from routegraph.train.rundir import load_run
    from routegraph.viz.runs import find_runs, load_run_info

    def resume_log(run):
        class Trainer:
            iteration = 0
        MetricsLogger(run / runs.METRICS).on_fit_start(Trainer())

    def annotate(run):
        from routegraph.sweep.executors import annotate_run

        class Spec:
            label = experiment = group = tier = "x"
        annotate_run(run, Spec())

    return {
        "config.json": [runs.read_config, lambda r: load_run(r, with_model=False), load_run_info,
                        lambda r: find_runs([r]), annotate],
        "eval.json": [runs.read_evaluations, lambda r: load_run(r, with_model=False).evaluations, load_run_info,
                      lambda r: find_runs([r.parent])],
        "compiled.json": [runs.read_compiled, lambda r: load_run(r, with_model=False), lambda r: load_run_info(r).graph],
        "metrics.jsonl": [runs.read_metrics, lambda r: load_run_info(r).metrics, resume_log],
    }[name]


@pytest.mark.parametrize("name", ["config.json", "eval.json", "compiled.json", "metrics.jsonl"])
def test_a_file_not_utf8_is_the_same_one_line_error_from_every_reader(run_copy, name):
    (run_copy / name).write_bytes(NOT_UTF8)
    expected = f"{run_copy / name}: not a text file (not UTF-8)"
    for reader in _readers(name):
        with pytest.raises(CheckpointError) as caught:
            reader(run_copy)
        assert str(caught.value) == expected


@pytest.mark.parametrize("name", ["config.json", "eval.json"])
@pytest.mark.parametrize("command", [["plot", "{run}", "-o", "{tmp}/p.png"], ["report", "{run}", "-o", "{tmp}/r.html"],
                                     ["render", "{run}", "--dataflow", "accuracy", "-o", "{tmp}/d.svg"],
                                     ["evaluate", "{run}"], ["calibrate", "{run}", "--budget-ops", "1000"],
                                     ["predict", "{run}", "{tmp}/x.npy"]])
def test_the_cli_prints_that_one_line_and_exits_2(run_copy, tmp_path, capsys, name, command):
    if name == "eval.json" and command[0] in ("evaluate", "calibrate", "predict"):
        pytest.skip("reads eval.json only after loading the model (the saved runs hold no checkpoint)")
    (run_copy / name).write_bytes(NOT_UTF8)
    args = [a.format(run=run_copy, tmp=tmp_path) for a in command]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == f"{run_copy / name}: not a text file (not UTF-8)"


def test_sweep_status_takes_an_undecodable_config_as_unreadable(run_copy):
    from routegraph.sweep.state import PENDING, STARTED, run_state

    (run_copy / "config.json").write_bytes(NOT_UTF8)

    class Spec:
        id, iterations = "other-id", 10
    assert run_state(run_copy, Spec()).status in (STARTED, PENDING)  # not CONFLICT, not a traceback


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("saved", SAVED, ids=[f"{p.parent.name}/{p.name}" for p in SAVED])
def test_every_saved_run_reads_and_writes_back_byte_for_byte(saved, tmp_path):
    runs.write_config(tmp_path, runs.read_config(saved))
    runs.write_compiled(tmp_path, runs.read_compiled(saved))
    evaluations = runs.read_evaluations(saved)
    runs.write_evaluations(tmp_path, evaluations["run_id"], evaluations["class_names"], evaluations["evaluations"])
    for record in runs.read_metrics(saved):
        runs.append_metrics(tmp_path / runs.METRICS, record)
    for name in ("config.json", "compiled.json", "eval.json", "metrics.jsonl"):
        assert (tmp_path / name).read_bytes() == (saved / name).read_bytes(), name


def test_write_evaluations_merges_by_k_cpt(tmp_path):
    runs.write_evaluations(tmp_path, "r", ["a"], [{"k_cpt": 2e-9, "e": 1}, {"k_cpt": 1e-9, "e": 2}])
    merged = runs.write_evaluations(tmp_path, "r", ["a"], [{"k_cpt": 2e-9, "e": 3}, {"k_cpt": None, "e": 4}])
    assert merged == runs.read_evaluations(tmp_path)
    assert [(r["k_cpt"], r["e"]) for r in merged["evaluations"]] == [(None, 4), (1e-9, 2), (2e-9, 3)]


def test_keep_metrics_until_drops_later_lines_and_a_torn_last_one(tmp_path):
    file = tmp_path / runs.METRICS
    for i in (10, 20, 30):
        runs.append_metrics(file, {"iteration": i})
    file.write_text(file.read_text() + '{"iteration": 4')
    assert "dropped a torn last line" in runs.keep_metrics_until(file, 20)
    assert runs.read_metrics(tmp_path) == [{"iteration": 10}, {"iteration": 20}]


def test_a_config_of_another_format_is_not_a_run(tmp_path):
    runs.write_config(tmp_path, {"format": "other/1"})
    with pytest.raises(CheckpointError, match=r"not a routegraph run \(format 'other/1'"):
        runs.read_config(tmp_path)


def test_the_short_names_are_those_in_saved_run_ids():
    for saved in SAVED:
        config = runs.read_config(saved)
        assert saved.name.startswith(runs.short_name(config["method"]) + "-")
