"""Huge integers, non-booleans and ignored flags are refused with one line and exit 2 (issue 16 QA)."""
import importlib.util
from pathlib import Path

import pytest
import yaml

from routegraph.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("sweep_helpers", ROOT / "tests" / "sweep" / "conftest.py")
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
tiny_experiment_data = _helpers.tiny_experiment_data

SPEC = str(ROOT / "specs" / "tiny_chain.yaml")
HUGE = "99999999999999999999999999"


def _refused(capsys, argv, *words):
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr()
    text = (err.err + err.out).strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    for word in words:
        assert word in text, text
    return text


@pytest.mark.parametrize("flag, value, allowed", [
    ("--seed", HUGE, "[0, 4294967295]"), ("--seed", str(2**64), "[0, 4294967295]"),
    ("--threads", "99999999999999999999", "[0, 4096]"), ("--batch-size", HUGE, "[1, 2147483647]"),
    ("--iterations", HUGE, "[1, 2147483647]"),
])
def test_huge_integer_flags_are_refused_with_the_allowed_range(capsys, tmp_path, flag, value, allowed):
    _refused(capsys, ["train", SPEC, "--out", str(tmp_path / "r"), flag, value], flag, allowed, value)
    assert not (tmp_path / "r").exists()


def test_huge_data_option_is_refused_naming_the_option(capsys, tmp_path):
    _refused(capsys, ["train", SPEC, "--out", str(tmp_path / "r"), "--data-option", f"n_train={HUGE}"],
             "n_train", "10000000", HUGE)


@pytest.mark.parametrize("text, words", [
    (f"seed: {HUGE}\n", ("seed", "4294967295")),
    ("talr: 1\n", ("talr", "true or false")),
    ("augment: 'no'\n", ("augment", "true or false")),
])
def test_settings_file_values_are_checked(capsys, tmp_path, text, words):
    config = tmp_path / "settings.yaml"
    config.write_text(text)
    _refused(capsys, ["train", SPEC, "--out", str(tmp_path / "r"), "--config", str(config)], *words)


def test_static_exit_is_refused_for_a_dynamic_strategy(capsys, tmp_path):
    _refused(capsys, ["train", SPEC, "--out", str(tmp_path / "r"), "--strategy", "actor", "--static-exit", "2"],
             "static_classifier", "--static-exit", "static only")


@pytest.mark.parametrize("train", [{"seed": int(HUGE)}, {"talr": 1}, {"talr": "yes"}, {"augment": "no"}])
def test_experiment_train_settings_are_refused_by_the_dry_run(capsys, tmp_path, train):
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(tiny_experiment_data(train=train), sort_keys=False))
    code = main(["sweep", str(path), "--budget", "test", "--out", str(tmp_path / "o"), "--dry-run"])
    err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err.err and list(train)[0] in err.err + err.out
