"""``routegraph demo`` end to end, shortened: every step runs and writes what it promises."""
import csv

import numpy as np

from routegraph.cli.main import main


def test_demo_runs_every_step_and_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--iterations", "8", "--n-train", "300", "--k-cpt", "0", "1e-6"])
    assert code == 0
    printed = capsys.readouterr().out
    for command in ("compile", "train", "evaluate", "predict", "export", "render", "plot", "report"):
        assert f"$ routegraph {command}" in printed
    for name in ("architecture.svg", "dataflow-classes.svg", "dataflow-accuracy.svg", "curves.png",
                 "over-training.png", "report.html", "predictions.csv", "predictions-onnx.csv"):
        assert (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["actor-0", "actor-1e-06", "static-1", "static-2", "static-3"]
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert len(rows) == len(np.load(out / "test-labels.npy")) == 2000
    assert all(r["exit_classifier"] for r in rows)
    by_exit = {}
    for r in rows:
        by_exit.setdefault(int(r["exit_index"]), set()).add(int(r["ops"]))
    assert all(len(ops) == 1 for ops in by_exit.values())  # each exit's path costs the same for every image
    costs = [next(iter(by_exit[i])) for i in sorted(by_exit)]
    assert costs == sorted(costs) and len(set(costs)) == len(costs)  # deeper exits cost more
    exported = list(csv.DictReader((out / "predictions-onnx.csv").open()))  # the export routes as the run does
    assert [(r["prediction"], r["exit_classifier"], r["ops"]) for r in exported] == \
        [(r["prediction"], r["exit_classifier"], r["ops"]) for r in rows]
