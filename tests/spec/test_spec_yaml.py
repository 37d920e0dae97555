"""The located YAML reader: safe, strict about duplicates, exact about positions."""
from __future__ import annotations

import pytest

from routegraph.errors import SpecError
from routegraph.spec import load_spec, loads_spec
from routegraph.located.tree import SpecYamlLoader, parse_located, parse_scalar, plain


def error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_located(text, "y.yaml")
    assert len(info.value.problems) == 1
    return str(info.value)


def test_values_and_positions():
    y = parse_located("a: 1\nb: [x, 'y', 1e-6, yes, ~]\nc: {on: 2}\n")
    assert plain(y) == {"a": 1, "b": ["x", "y", 1e-6, True, None], "c": {"on": 2}}  # keys stay strings
    b = y.v["b"]
    assert (b.loc.line, b.loc.col, b.loc.path) == (2, 4, "b")
    assert (b.v[1].loc.line, b.v[1].loc.col, b.v[1].loc.path) == (2, 8, "b.1")
    assert y.key_loc("c").line == 3 and y.key_loc("c").col == 1


def test_anchors_aliases_and_merge_keys():
    y = parse_located("base: &b {kind: relu, input: x}\nn1: *b\nn2: {<<: *b, input: y}\n")
    assert plain(y)["n1"] == {"kind": "relu", "input": "x"}
    assert plain(y)["n2"] == {"kind": "relu", "input": "y"}
    assert y.v["n1"].loc.path == "base"  # an alias points at its anchor


@pytest.mark.parametrize("text, expected", [
    ("a: 1\nb: 2\na: 3\n", "y.yaml:3:1: a: duplicate key 'a' (first written at line 1)"),
    ("a: [1, 2\n", "y.yaml:2:1: <root>: invalid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)"),
    ("", "y.yaml:1:1: <root>: the spec file is empty"),
    ("# only a comment\n", "y.yaml:1:1: <root>: the spec file is empty"),
    ("a: !!python/object:os.system {}\n", "y.yaml:1:4: a: unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system'"),
    ("a: !!python/name:os.system\n", "y.yaml:1:4: <root>: invalid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:python/name:os.system'"),
    ("a: &x [*x]\n", "y.yaml:1:4: a.0: a YAML alias refers to a value that contains it"),
    ("? [1, 2]\n: 3\n", "y.yaml:1:3: <root>: mapping keys must be plain strings"),
    ("a:\n\tb: 1\n", "y.yaml:2:1: <root>: invalid YAML: found character '\\t' that cannot start any token (while scanning for the next token)"),
])
def test_yaml_errors_are_located(text, expected):
    assert error(text) == expected


def test_alias_bombs_are_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    assert "too large after expanding YAML aliases" in error("\n".join(lines) + "\n")


def test_top_level_must_be_a_mapping():
    with pytest.raises(SpecError, match="the top level of a spec must be a mapping"):
        loads_spec("- 1\n- 2\n")


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read the spec file"):
        load_spec(tmp_path / "nope.yaml")


def test_bytes_that_are_not_utf8_are_located_at_the_first_bad_byte(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes("name: x\ninput: {shape: [4]} # é".encode("utf-8") + b"\xff\xfe\n")
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    (problem,) = info.value.problems
    # line 2; 'input: {shape: [4]} # é' is 23 characters (é is one), so the bad byte is column 24
    assert (problem.line, problem.col) == (2, 24) and "not UTF-8" in problem.message and "ff" in problem.message


def test_an_integer_too_long_for_python_is_located():
    digits = "9" * 5000  # Python converts at most 4,300 digits to an int
    message = error(f"a: 1\nb: [1, {digits}]\n")
    assert message.startswith("y.yaml:2:8: b.1: integer too large (5,000 digits)")
    with pytest.raises(SpecError, match="integer too large"):
        loads_spec(f"name: n\ninput: {{shape: [{digits}]}}\nnodes: []\n")


def test_experiment_files_get_the_same_located_errors(tmp_path):
    from routegraph.errors import ExperimentError
    from routegraph.located.files import read_located

    big = tmp_path / "e.yaml"
    big.write_text("kind: experiment\nseeds: " + "1" * 4400 + "\n", encoding="utf-8")
    with pytest.raises(ExperimentError) as info:
        read_located(big)
    assert str(info.value).startswith(f"{big}:2:8: seeds: integer too large (4,400 digits)")
    big.write_bytes(b"kind: experiment\nname: \xff\n")
    with pytest.raises(ExperimentError) as info:
        read_located(big)
    assert str(info.value).startswith(f"{big}:2:7: <root>: not UTF-8 text")


def test_other_unreadable_scalars_are_located():
    assert error("a:\n  - 2020-13-45\n").startswith("y.yaml:2:5: a.0: invalid value '2020-13-45'")


def test_scalars_for_overrides():
    assert parse_scalar("1e-3") == 1e-3 and parse_scalar("[1, 2]") == [1, 2] and parse_scalar("x") == "x"
    assert SpecYamlLoader is not None
