"""`routegraph render | plot | report` through the CLI dispatcher."""
import shutil
from pathlib import Path

import pytest

import viz_fakes
from routegraph.cli.main import main

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed")
SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture
def cli(capsys):
    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@needs_dot
def test_render_architecture_of_a_run(cli, experiment, tmp_path):
    code, out, _ = cli("render", experiment / "ac-2e-09", "-o", tmp_path / "arch.svg")
    assert code == 0 and out.strip() == f"wrote {tmp_path / 'arch.svg'}"
    assert b"</svg>" in (tmp_path / "arch.svg").read_bytes()


@pytest.mark.skipif(not (SPECS / "tiny_chain.yaml").exists() and not (SPECS / "chain_8layer.yaml").exists(),
                    reason="reference specs not present")
def test_render_architecture_of_a_spec(cli, tmp_path):
    spec = SPECS / "tiny_chain.yaml" if (SPECS / "tiny_chain.yaml").exists() else SPECS / "chain_8layer.yaml"
    code, out, err = cli("render", spec, "-o", tmp_path / "arch.gv")
    assert code == 0, err
    assert (tmp_path / "arch.gv").read_text().startswith("digraph")


def test_render_without_dot_writes_the_source(cli, experiment, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    code, out, err = cli("render", experiment / "ac-2e-09", "-o", tmp_path / "arch.svg")
    assert code == 1 and "Traceback" not in err
    assert f"dot -Tsvg {tmp_path / 'arch.gv'} -o {tmp_path / 'arch.svg'}" in err
    assert (tmp_path / "arch.gv").exists() and not (tmp_path / "arch.svg").exists()


def test_render_dataflow(cli, experiment, tmp_path):
    code, out, _ = cli("render", str(experiment / "ac-*"), "--dataflow", "classes", "-o", tmp_path / "flow.svg")
    assert code == 0 and "(4 runs)" in out
    code, out, _ = cli("render", experiment / "ac-2e-09", "--dataflow", "accuracy", "-o", tmp_path / "one.png")
    assert code == 0 and (tmp_path / "one.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("argv, message", [
    (["--dataflow", "pie"], "unknown dataflow variant 'pie' (known: accuracy, classes)"),
    (["--dataflow", "clases"], "did you mean 'classes'?"),
    (["--k-cpt", "1e-7", "--dataflow", "accuracy"], "no evaluation at k_cpt=1e-07"),
])
def test_render_user_errors(cli, experiment, tmp_path, argv, message):
    code, _, err = cli("render", experiment / "ac-2e-09", *argv, "-o", tmp_path / "x.svg")
    assert code == 2 and message in err and "Traceback" not in err


def test_render_two_architectures_is_refused(cli, experiment):
    code, _, err = cli("render", experiment / "sr-1", experiment / "sr-2")
    assert code == 2 and "one spec or run" in err


def test_plot_curves(cli, experiment, tmp_path):
    code, out, _ = cli("plot", str(experiment / "sr-*"), str(experiment / "ac-*"), str(experiment / "cr-*"),
                       "-o", tmp_path / "curves.png")
    assert code == 0
    assert "4 curves from 9 runs" in out and "Statically-routed nets: 3 points" in out
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")


def test_plot_over_training(cli, experiment, tmp_path):
    code, out, _ = cli("plot", experiment / "ac-2e-09", "--over-training", "-o", tmp_path / "heat.svg")
    assert code == 0 and (tmp_path / "heat.svg").exists()


@pytest.mark.parametrize("target, message", [
    ("missing", "no such run directory"),
    ("nothing-*", "no run directories match"),
    ("notarun", "not a run directory"),
])
def test_plot_user_errors(cli, tmp_path, target, message):
    (tmp_path / "notarun").mkdir()
    code, _, err = cli("plot", tmp_path / target, "-o", tmp_path / "c.png")
    assert code == 2 and message in err and "Traceback" not in err


def test_plot_unevaluated_runs(cli, tmp_path, chain):
    viz_fakes.make_run(tmp_path, "u", chain, with_eval=False)
    code, _, err = cli("plot", tmp_path, "-o", tmp_path / "c.png")
    assert code == 2 and "routegraph evaluate" in err


def test_report_with_missing_browser(cli, tmp_path, chain, monkeypatch):
    viz_fakes.make_run(tmp_path / "runs", "ac", chain, k_cpt=1e-9)
    monkeypatch.setattr("routegraph.viz.browser.find_chromium", lambda: None)
    code, out, err = cli("report", tmp_path / "runs", "-o", tmp_path / "r.html", "--check")
    assert code == 0 and f"wrote {tmp_path / 'r.html'} (1 run" in out
    assert "browser check skipped: no headless chromium found" in err
