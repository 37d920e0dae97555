"""The CLI turns user errors into one clean line per problem and exit code 2; --debug shows tracebacks."""
import subprocess
import sys

import pytest

from routegraph.cli.main import COMMANDS, main

BAD_SPEC = """name: bad
input: {name: image, shape: [3, 8, 8]}
nodes:
  - {name: conv1, kind: conv2d, input: image, channels: 4}
  - {name: flat, kind: flatten, input: conv1}
  - {name: out, kind: classifier, input: flatt, classes: 3}
"""


def test_compile_error_is_one_located_line_without_traceback(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_SPEC)
    assert main(["compile", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"{spec}:6:42: nodes.2.input: unknown node 'flatt'; did you mean 'flat'? (known: conv1, flat, image, out)"
    assert "Traceback" not in err


def test_debug_flag_shows_the_traceback(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_SPEC)
    done = subprocess.run([sys.executable, "-m", "routegraph", "compile", str(spec), "--debug"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" in done.stderr and "SpecError" in done.stderr


def test_missing_spec_file_is_a_clean_error(tmp_path, capsys):
    assert main(["compile", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "Traceback" not in err


def test_unknown_training_setting_in_config_file(tmp_path, capsys):
    config = tmp_path / "train.yaml"
    config.write_text("k_cpx: 1e-9\n")
    code = main(["train", "specs/tiny_chain.yaml", "--out", str(tmp_path / "run"), "--config", str(config)])
    assert code == 2
    assert "did you mean 'k_cpt'" in capsys.readouterr().err


def test_evaluate_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: routegraph" in capsys.readouterr().out
