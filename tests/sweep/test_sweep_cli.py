"""``routegraph sweep``: the estimate printed before starting, --list, --dry-run, errors."""
import json

from routegraph.cli.main import main


def test_dry_run_prints_the_plan_and_an_estimate_from_the_table(make_experiment, tmp_path, capsys):
    path = make_experiment()
    assert main(["sweep", str(path), "--budget", "test", "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "tiny: full sweep -> 3 runs: 0 done, 0 partial (resume from checkpoint), 3 to start" in text
    assert "budget test: 4 iterations at batch 16, schedule small" in text
    assert "deviation from the paper: a unit-test budget" in text
    # 2 runs x 4 steps x 0.02 s x 16/128 x (2 reference cores / local cores) + 1 run likewise
    assert "estimated duration:" in text and "from the seconds_per_step table in" in text
    assert "actor_dynamic" in text and "table" in text
    assert "ac-dyn-" in text and not (tmp_path / "out").exists()  # a dry run writes nothing


def test_estimate_by_measurement(make_experiment, tmp_path, capsys):
    path = make_experiment(seconds_per_step={})
    assert main(["sweep", str(path), "--budget", "test", "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert "3 run(s) without an estimate" in capsys.readouterr().out
    assert main(["sweep", str(path), "--budget", "test", "--out", str(tmp_path / "o"), "--dry-run",
                 "--estimate", "measure", "--only", "actor"]) == 0
    text = capsys.readouterr().out
    assert "measured" in text and "steps timed just now" in text and "without an estimate" not in text


def test_estimate_is_refined_by_finished_runs(make_experiment, tmp_path, capsys):
    path, out = make_experiment(seconds_per_step={}), tmp_path / "o"
    assert main(["sweep", str(path), "--budget", "test", "--out", str(out), "--only", "actor", "--k-cpt", "1e-8"]) == 0
    capsys.readouterr()
    assert main(["sweep", str(path), "--budget", "test", "--out", str(out), "--dry-run", "--only", "actor"]) == 0
    text = capsys.readouterr().out
    assert "training speeds logged by this sweep's runs" in text
    assert json.loads((out / "sweep.json").read_text())["counts"] == {"done": 1}


def test_list_and_errors(make_experiment, capsys):
    path = make_experiment()
    assert main(["sweep", str(path), "--list"]) == 0
    text = capsys.readouterr().out
    assert "actor_dynamic" in text and "budget test6: 6 iterations" in text
    assert main(["sweep", str(path)]) == 2
    assert "choose a budget with --budget (test, test6)" in capsys.readouterr().err
    assert main(["sweep", str(path), "--budget", "test", "--only", "critic", "--dry-run"]) == 2
    assert "--only 'critic': no group" in capsys.readouterr().err
    assert main(["sweep", str(path), "--budget", "test", "--tier", "1", "--cpus-per-run", "2"]) == 2
    assert "--cpus-per-run/--gpus-per-run are for --executor ray" in capsys.readouterr().err


def test_table_estimates_warn_when_runs_will_train_on_a_gpu(make_experiment, tmp_path, capsys, monkeypatch):
    import torch

    path = make_experiment()
    argv = ["sweep", str(path), "--budget", "test", "--out", str(tmp_path / "o"), "--dry-run"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(argv) == 0
    assert "2-core CPU reference machine" not in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # device auto -> a GPU
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "the seconds_per_step table was measured on the 2-core CPU reference machine" in text
    assert "--estimate measure" in text
    assert main([*argv, "--estimate", "none"]) == 0  # no table estimate, no warning
    assert "reference machine" not in capsys.readouterr().out
