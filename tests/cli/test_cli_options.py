"""Every option of every command: described in --help, numbers checked against their bounds,
output paths checked before the work; each refusal is one line and exit status 2."""
import argparse
import math
import re
from pathlib import Path

import pytest

from routegraph.cli.main import COMMANDS, build_parser, main
from routegraph.cli.options import number

REPO = Path(__file__).resolve().parents[2]


def _parsers():
    """(prog, parser) for every command and sub-command (``data download`` ...)."""
    out = []
    todo = [build_parser(command) for command in sorted(COMMANDS)]
    while todo:
        parser = todo.pop(0)
        out.append((parser.prog, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += list(action.choices.values())
    return out


PARSERS = _parsers()
OPTIONS = [(prog, parser, action) for prog, parser in PARSERS for action in parser._actions
           if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))]


@pytest.mark.parametrize("prog,parser,action", OPTIONS, ids=[f"{p}:{a.dest}" for p, _, a in OPTIONS])
def test_every_option_and_argument_has_a_description(prog, parser, action):
    described = re.sub(r"\(default: [^)]*\)", "", action.help or "").strip()  # a default alone describes nothing
    assert described and action.help is not argparse.SUPPRESS, f"{prog} {action.option_strings or action.dest}"


@pytest.mark.parametrize("prog,parser,action", OPTIONS, ids=[f"{p}:{a.dest}" for p, _, a in OPTIONS])
def test_no_numeric_option_goes_unchecked(prog, parser, action):
    # a bare int/float type accepts -1, 0, nan and inf: every number goes through options.number(Bound)
    assert action.type not in (int, float), f"{prog} {action.option_strings}: use options.number(bound)"


def _bad_values(bound) -> list[str]:
    """Values just outside ``bound``, plus NaN and infinity (and a fraction for integers)."""
    bad = ["nan", "inf", "-inf"]
    step = 1 if bound.kind is int else 0.5
    if bound.lo is not None:
        bad.append(str(bound.kind(bound.lo if not bound.lo_inclusive else bound.lo - step)))
    if bound.hi is not None:
        bad.append(str(bound.kind(bound.hi if not bound.hi_inclusive else bound.hi + step)))
    if bound.kind is int:
        bad.append("1.5")
    return bad


NUMERIC = [(prog, parser, action, bad) for prog, parser, action in OPTIONS if hasattr(action.type, "bound")
           for bad in _bad_values(action.type.bound)]


@pytest.mark.parametrize("prog,parser,action,bad", NUMERIC,
                         ids=[f"{p}:{a.option_strings[0]}={b}" for p, _, a, b in NUMERIC])
def test_numbers_outside_their_bounds_are_one_line_and_exit_2(prog, parser, action, bad, capsys):
    with pytest.raises(SystemExit) as info:
        parser.parse_args([f"{action.option_strings[0]}={bad}"])  # "=": -inf is no option
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert action.option_strings[0] in err and "must be" in err and f"(see '{prog} --help')" in err


def test_the_checks_cover_the_options_of_the_issue():
    flags = {(prog.split()[1], a.option_strings[0]) for prog, _, a, _ in NUMERIC}
    for command, flag in [("train", "--threads"), ("train", "--log-every"), ("train", "--momentum"),
                          ("train", "--k-cpt"), ("evaluate", "--batch-size"), ("evaluate", "--k-cpt"),
                          ("calibrate", "--batch-size"), ("predict", "--k-cpt"), ("predict", "--threads"),
                          ("calibrate", "--threads"), ("sweep", "--jobs"), ("demo", "--iterations")]:
        assert (command, flag) in flags


@pytest.mark.parametrize("argv", [
    ["train", "specs/tiny_chain.yaml", "--out", "RUN", "--threads", "-1"],
    ["train", "specs/tiny_chain.yaml", "--out", "RUN", "--log-every", "0"],
    ["train", "specs/tiny_chain.yaml", "--out", "RUN", "--momentum", "-1"],
    ["train", "specs/tiny_chain.yaml", "--out", "RUN", "--k-cpt", "nan"],
    ["train", "specs/tiny_chain.yaml", "--out", "RUN", "--k-cpt", "inf"],
    ["evaluate", "RUN", "--batch-size", "0"],
    ["evaluate", "RUN", "--k-cpt", "nan"],
    ["evaluate", "RUN", "--k-cpt", "1e-9", "inf"],
    ["calibrate", "RUN", "--budget-ops", "1e5", "--batch-size", "0"],
    ["predict", "RUN", "IMAGES.npy", "--k-cpt", "nan"],
])
def test_the_issue_examples(argv, tmp_path, capsys):
    argv = [str(tmp_path / a) if a in ("RUN", "IMAGES.npy") else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "must be" in err and "Traceback" not in err
    assert not (tmp_path / "RUN").exists()


def test_training_settings_are_checked_in_the_python_api_and_config_files(tmp_path, capsys):
    from routegraph.errors import ConfigError
    from routegraph.train.config import TrainConfig, settings

    for name, value in [("threads", -1), ("log_every", 0), ("momentum", -1.0), ("k_cpt", math.nan),
                        ("k_cpt", math.inf), ("k_cpt", -1e-9), ("batch_size", 0), ("iterations", True),
                        ("eps", 1.0), ("k_cpt_set", (0.0, math.nan)), ("k_cpt_set", ())]:
        with pytest.raises(ConfigError, match=name):
            TrainConfig(**{name: value})
    assert all(s.bound for s in settings() if isinstance(s.default, (int, float)) and not isinstance(s.default, bool))
    config = tmp_path / "train.yaml"
    config.write_text("k_cpt: .nan\n")
    assert main(["train", "specs/tiny_chain.yaml", "--out", str(tmp_path / "run"), "--config", str(config)]) == 2
    assert "k_cpt must be a finite number >= 0 (got nan)" in capsys.readouterr().err


def test_settings_files_read_numbers_as_specs_do_and_locate_their_errors(tmp_path, capsys):
    """PyYAML alone reads ``1e-9`` as a string; settings files use the spec's reader."""
    from routegraph.cli.options import train_config_from_args
    from routegraph.cli.main import build_parser

    config = tmp_path / "train.yaml"
    config.write_text("k_cpt: 1e-9\nlr: 2E-1\n")
    args = build_parser("train").parse_args(["specs/tiny_chain.yaml", "--out", str(tmp_path / "r"), "--config", str(config)])
    settings = train_config_from_args(args)
    assert (settings.k_cpt, settings.lr) == (1e-9, 0.2)
    config.write_text("k_cpt: [1e-9\n")
    assert main(["train", "specs/tiny_chain.yaml", "--out", str(tmp_path / "run"), "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{config}:2:1: ") and "invalid YAML" in err and len(err.splitlines()) == 1


def test_number_type_messages():
    from routegraph.checks import POSITIVE_INT, Bound

    parse = number(POSITIVE_INT)
    assert parse("3") == 3
    for bad, words in [("0", "an integer in [1, 2147483647] (got 0)"), ("x", "an integer in [1, 2147483647] (got 'x')"), ("2.5", "(got '2.5')")]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(words)):
            parse(bad)
    assert Bound(float, 0, hi=1).problem(1.0) == "must be in [0, 1) (got 1.0)"
    assert Bound(float, 0).problem(math.inf) == "must be a finite number >= 0 (got inf)"


OUTPUTS = [(prog, parser, action) for prog, parser, action in OPTIONS
           if getattr(action.type, "__name__", "") in ("output_file", "output_folder")]


def test_every_output_option_is_checked():
    found = {(prog.split(" ", 1)[1], action.option_strings[-1]) for prog, _, action in OUTPUTS}
    assert found >= {("compile", "--json"), ("compile", "--dot"), ("compile", "--render"), ("schema", "--output"),
                     ("train", "--out"), ("render", "--out"), ("plot", "--out"), ("report", "--out"),
                     ("report", "--screenshot"), ("predict", "--out"), ("calibrate", "--json"), ("sweep", "--out"),
                     ("demo", "--out"), ("data sheet", "--out"), ("export", "--out")}
    # no other option names an output without the check
    for prog, parser, action in OPTIONS:
        if set(action.option_strings) & {"--out", "-o", "--json", "--output", "--screenshot", "--dot", "--render"}:
            assert action in [a for _, _, a in OUTPUTS], f"{prog} {action.option_strings}"


@pytest.mark.parametrize("prog,parser,action", OUTPUTS, ids=[f"{p}:{a.option_strings[-1]}" for p, _, a in OUTPUTS])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_work(prog, parser, action, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    target = blocker / "sub" / "out.json"  # its parent is a file: nobody can write there, root included
    with pytest.raises(SystemExit) as info:
        parser.parse_args([f"{action.option_strings[0]}={target}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{target}: cannot write" in err and "is a file, not a folder" in err


def test_check_writable(tmp_path, monkeypatch):
    from routegraph.errors import ConfigError
    from routegraph.io import check_writable

    assert check_writable(tmp_path / "new" / "deeper" / "x.json") == tmp_path / "new" / "deeper" / "x.json"
    assert not (tmp_path / "new").exists()  # nothing is created
    check_writable(tmp_path / "run", folder=True)
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="it is a file"):
        check_writable(tmp_path / "f", folder=True)
    with pytest.raises(ConfigError, match="it is a folder"):
        check_writable(tmp_path)
    monkeypatch.setattr("os.access", lambda path, mode: False)  # a read-only folder (root ignores chmod)
    with pytest.raises(ConfigError, match="is not writable"):
        check_writable(tmp_path / "x.json")


def test_calibrate_json_path_is_checked_before_loading_the_run(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as info:
        main(["calibrate", str(tmp_path / "no-run"), "--budget-ops", "1e5", "--json", str(tmp_path / "a-file" / "c.json")])
    assert info.value.code == 2 and "cannot write" in capsys.readouterr().err


def test_static_exit_outside_the_networks_exits(tmp_path, capsys):
    from routegraph.errors import ConfigError
    from routegraph.graph import compile_spec
    from routegraph.graph.static import static_classifier
    from routegraph.spec import load_spec

    graph = compile_spec(load_spec("specs/tiny_chain.yaml"))
    assert [static_classifier(graph, c) for c in ("1", 3, None, "l2.exit")] == ["l1.exit", "l3.exit", "l3.exit", "l2.exit"]
    for bad in ("9", "0", 4):
        with pytest.raises(ConfigError, match=r"allowed: 1\.\.3, or a name: l1.exit, l2.exit, l3.exit"):
            static_classifier(graph, bad)
    code = main(["train", "specs/tiny_chain.yaml", "--out", str(tmp_path / "run"), "--strategy", "static",
                 "--static-exit", "9", "--iterations", "1", "--data-option", "n_train=8", "--data-option", "n_test=8"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == ("static exit 9: the network has 3 classifiers "
                                         "(allowed: 1..3, or a name: l1.exit, l2.exit, l3.exit)")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_k_cpt_lists_and_experiment_files_refuse_nan(tmp_path, capsys):
    import shutil

    from routegraph.errors import ConfigError, ExperimentError
    from routegraph.sweep.expand import parse_k_cpt_list
    from routegraph.sweep.schema import load_experiment

    for text in ("1e-9,nan", "inf", "-1e-9"):
        with pytest.raises(ConfigError, match="must be"):
            parse_k_cpt_list(text)
    assert main(["sweep", "experiments/hybrid.yaml", "--budget", "tiny", "--k-cpt", "1e-9,nan", "--dry-run"]) == 2
    assert "--k-cpt '1e-9,nan': must be a finite number >= 0 (got nan)" in capsys.readouterr().err
    shutil.copy("experiments/budgets.yaml", tmp_path)
    text = open("experiments/hybrid.yaml").read().replace("../specs/", f"{REPO}/specs/")
    (tmp_path / "x.yaml").write_text(text.replace("tier_k_cpt: [1.0e-9,", "tier_k_cpt: [.nan,", 1))
    with pytest.raises(ExperimentError, match=r"tier_k_cpt\.0: k_cpt must be a finite number >= 0 \(got nan\)"):
        load_experiment(tmp_path / "x.yaml")
