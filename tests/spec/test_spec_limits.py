"""The spec language's limits, each reported for what it is and located (docs/spec.md, "Limits")."""
from __future__ import annotations

import warnings

import pytest

from routegraph.errors import MAX_KNOWN_SHOWN, SpecError
from routegraph.graph import compile_spec
from routegraph.spec import expand, loads_spec
from routegraph.spec.expressions import MAX_INT_BITS

HEAD = "name: n\ninput: {shape: [4]}\n"


def problems(text: str, overrides: dict | None = None) -> list:
    with pytest.raises(SpecError) as info:
        loads_spec(text, file="s.yaml", overrides=overrides)
    return list(info.value.problems)


def nested_templates(levels: int) -> str:
    """t0 uses t1 uses ... uses t<levels - 1>, which holds one classifier: ``levels`` levels."""
    lines = [HEAD + "templates:"]
    for i in range(levels - 1):
        lines.append(f"  t{i}: {{nodes: [{{use: t{i + 1}, as: u}}]}}")
    lines.append(f"  t{levels - 1}: {{nodes: [{{name: out, kind: classifier, input: image, classes: 2}}]}}")
    lines.append("nodes:\n  - {use: t0, as: top}\n")
    return "\n".join(lines)


def test_nesting_within_the_limit_expands():
    spec = loads_spec(nested_templates(expand.MAX_DEPTH))
    assert [n.name for n in spec.nodes] == ["top" + ".u" * (expand.MAX_DEPTH - 1) + ".out"]


def test_nesting_deeper_than_the_limit_is_not_called_recursion():
    (problem,) = problems(nested_templates(expand.MAX_DEPTH + 1))
    assert problem.message.startswith(f"templates nested deeper than {expand.MAX_DEPTH} levels: t0 -> t1 -> ...")
    assert "recursion" not in problem.message and problem.line > 0 and problem.col > 0
    assert problem.path == f"templates.t{expand.MAX_DEPTH - 1}.nodes.0.use"


def test_real_recursion_is_still_recursion():
    (problem,) = problems(HEAD + "templates:\n  a: {nodes: [{use: a, as: x}]}\nnodes:\n  - {use: a, as: top}\n")
    assert problem.message.startswith("template recursion: a -> a")


def test_the_node_limit_points_at_the_template_use_that_passes_it(monkeypatch):
    monkeypatch.setattr(expand, "MAX_NODES", 30)  # the real limit (100,000) takes seconds to reach
    text = HEAD + """templates:
  ten:
    nodes:
""" + "".join(f"      - {{name: n{i}, kind: linear, input: image, features: 2}}\n" for i in range(10)) + """  many: {nodes: [{use: ten, as: a}, {use: ten, as: b}]}
nodes:
  - {use: many, as: x}
  - {use: many, as: y}
  - {name: out, kind: classifier, input: image, classes: 2}
"""
    (problem,) = problems(text)
    assert problem.message == ("the spec expands to more than 30 nodes (the limit); node y.b.n0 passes it, "
                               "made by template uses 'many' as 'y' -> 'ten' as 'b'")
    assert (problem.line, problem.path) == (text.splitlines().index("  - {use: many, as: y}") + 1, "nodes.1")


def test_the_known_names_list_is_capped():
    n = 500
    text = HEAD + "nodes:\n" + "".join(f"  - {{name: n{i}, kind: relu, input: image}}\n" for i in range(n))
    text += "  - {name: out, kind: classifier, input: nn7, classes: 2}\n"
    with pytest.raises(SpecError) as info:
        compile_spec(loads_spec(text))
    (problem,) = info.value.problems
    assert problem.message == "unknown node 'nn7'; did you mean 'n7'?"
    shown = problem.allowed.removeprefix("known: ").split(", ")
    assert len(shown) == MAX_KNOWN_SHOWN and shown[-1].endswith(f" and {n + 2 - MAX_KNOWN_SHOWN} more")
    assert len(str(info.value)) < 400


def test_expression_names_list_is_capped():
    params = "".join(f"  p{i}: {i}\n" for i in range(100))
    (problem,) = problems(HEAD.replace("input:", "params:\n" + params + "input:")
                          + "nodes:\n  - {name: out, kind: classifier, input: image, classes: '${q}'}\n")
    assert problem.allowed.endswith(f"and {100 - MAX_KNOWN_SHOWN} more")


@pytest.mark.parametrize("expr", ["${10**10000}", "${2**(%d + 1)}" % MAX_INT_BITS, "n${10**5000}"])
def test_huge_integers_from_expressions_are_located(expr):
    (problem,) = problems(HEAD + f"nodes:\n  - {{name: out, kind: classifier, input: image, classes: '{expr}'}}\n")
    assert problem.message == "result too large" and (problem.line, problem.col) == (4, 58)


def test_expressions_leak_no_python_warnings():
    text = HEAD.replace("input:", "params: {width: 1}\ninput:") + \
        "nodes:\n  - {name: out, kind: classifier, input: image, classes: '${8if width else 4}'}\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (problem,) = problems(text)
    assert not caught, [str(w.message) for w in caught]  # Python says "invalid decimal literal"
    assert "conditional expression" in problem.message and (problem.line, problem.col) == (5, 58)


@pytest.mark.parametrize("value, message", [
    ("'${int(\"9\" * 5000)}'", "int() of a string of more than 4,300 digits"),
    ("1e30", "must be an integer <= 9223372036854775807 (got 1e+30)"),
    ("9223372036854775808", "must be <= 9223372036854775807 (got 9223372036854775808)"),
])
def test_integers_beyond_64_bits_are_refused_in_words(value, message):
    (problem,) = problems(HEAD + f"nodes:\n  - {{name: out, kind: classifier, input: image, classes: {value}}}\n")
    assert problem.message == message and (problem.line, problem.col) == (4, 58)


def test_overrides_get_the_same_checks():
    from routegraph.errors import ConfigError
    from routegraph.spec import parse_overrides

    with pytest.raises(ConfigError) as info:
        parse_overrides(["width=" + "9" * 5000])
    assert str(info.value) == ("--set 'width=999999999999999999999999999999999999999999999999999...': "
                               "the value is not valid YAML (integer too large (5,000 digits))")
    text = HEAD.replace("input:", "params: {width: 1}\ninput:") + \
        "nodes:\n  - {name: out, kind: classifier, input: image, classes: '${4 * width}'}\n"
    (problem,) = problems(text, {"width": True})  # --set width=true is not width=1
    assert problem.message == "arithmetic or indexing with the boolean True" and problem.line == 5

