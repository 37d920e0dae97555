"""The ${...} evaluator: agrees with Python on arithmetic, rejects anything unsafe."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routegraph.errors import SpecError
from routegraph.spec.expressions import ExprError, evaluate, substitute

SETTINGS = settings(max_examples=150, deadline=None)
SCOPE = {"width": 2, "sizes": [32, 16, 8, 4], "name": "l1", "ratio": 0.5, "flag": True}


@st.composite
def arithmetic(draw, depth: int = 3, compare: bool = True) -> str:
    """A random arithmetic expression over small ints and the names a, b; a comparison
    only at the top (``compare``): arithmetic on its boolean result is an error here."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(st.integers(-20, 20).map(str), st.sampled_from(["a", "b"])))
    kind = draw(st.sampled_from(["bin", "bin", "bin", "neg", "call"] + (["cmp"] if compare else [])))
    left = draw(arithmetic(depth - 1, compare=False))
    if kind == "neg":
        return f"-({left})"
    right = draw(arithmetic(depth - 1, compare=False))
    if kind == "call":
        fn = draw(st.sampled_from(["min", "max"]))
        return f"{fn}({left}, {right})"
    if kind == "cmp":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"({left}) {op} ({right})"
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "/", "**"]))
    if op == "**":
        return f"({left}) ** {draw(st.integers(0, 3))}"
    return f"({left}) {op} ({right})"


@SETTINGS
@given(arithmetic(), st.integers(-9, 9), st.integers(-9, 9))
def test_arithmetic_agrees_with_python(expr, a, b):
    try:
        expected = eval(expr, {"__builtins__": {}, "min": min, "max": max}, {"a": a, "b": b})  # the oracle
    except ZeroDivisionError:
        with pytest.raises(SpecError, match="division by zero"):
            evaluate(expr, {"a": a, "b": b})
        return
    got = evaluate(expr, {"a": a, "b": b})
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("expr, value", [
    ("width * 16", 32),
    ("[16 * width] * 2", [32, 32]),
    ("sizes[-1]", 4),
    ("sizes[1:3]", [16, 8]),
    ("len(sizes)", 4),
    ("range(3)", [0, 1, 2]),
    ("range(1, 7, 2)", [1, 3, 5]),
    ("int(ratio * 10)", 5),
    ("float(width)", 2.0),
    ("round(2.6)", 3),
    ("round(0.123, 2)", 0.12),
    ("min(sizes)", 4),
    ("max(3, width)", 3),
    ("32 / 2", 16.0),
    ("name + '.conv'", "l1.conv"),
    ("flag", True),
    ("int(flag) * 16", 16),
    ("[1, 2] + [3]", [1, 2, 3]),
    ("1 < width < 3", True),
    ("-width", -2),
    ("+width", 2),
    ("2 ** -1", 0.5),
])
def test_values_keep_their_types(expr, value):
    got = evaluate(expr, SCOPE)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("expr, message", [
    ("__import__('os')", "cannot call '__import__'"),
    ("width.real", "attribute access"),
    ("sizes.__class__", "attribute access"),
    ("(lambda: 1)()", "cannot call this"),
    ("lambda: 1", "lambda"),
    ("[x for x in sizes]", "comprehension"),
    ("{'a': 1}", "dict literal"),
    ("{1}", "set literal"),
    ("(1, 2)", "tuple"),
    ("1 if flag else 2", "conditional expression"),
    ("flag and flag", "'and'/'or'"),
    ("open('x')", "cannot call 'open'"),
    ("eval('1')", "cannot call 'eval'"),
    ("min(sizes, key=len)", "keyword"),
    ("min(*sizes)", "unpacking"),
    ("f'{width}'", "f-string"),
    ("None", "unsupported literal"),
    ("b'x'", "unsupported literal"),
    ("1j", "unsupported literal"),
    ("(w := 3)", "':='"),
    ("1 in sizes", "unsupported comparison"),
    ("flag is True", "unsupported comparison"),
    ("width << 2", "unsupported operator"),
    ("not flag", "unsupported operator"),
    ("widht", "unknown name 'widht'; did you mean 'width'?"),
    ("min", "is a function"),
    ("10 ** 10 ** 10", "too large"),
    ("[0] * 10 ** 8", "too large"),
    ("'x' * 10 ** 8", "too large"),
    ("range(10 ** 9)", "longer than"),
    ("(-8) ** 0.5", "complex"),
    ("1 / 0", "division by zero"),
    ("sizes[9]", "cannot evaluate"),
    ("width[0]", "cannot index"),
    ("int('x')", "cannot evaluate"),
    ("1 +", "invalid expression"),
    ("", "empty expression"),
    ("1" + " + 1" * 400, "longer than"),
    ("flag * 16", "arithmetic or indexing with the boolean True"),  # Python: 16
    ("16 + (width > 1)", "with the boolean True"),
    ("-flag", "with the boolean True"),
    ("sizes[flag]", "with the boolean True"),
    ("sizes[:flag]", "with the boolean True"),
])
def test_unsafe_or_invalid_expressions_are_spec_errors(expr, message):
    with pytest.raises(SpecError) as info:
        evaluate(expr, SCOPE)
    assert isinstance(info.value, ExprError)
    assert message in info.value.message


@SETTINGS
@given(st.text(max_size=40))
def test_any_text_is_a_value_or_a_spec_error(text):
    try:
        evaluate(text, SCOPE)
    except SpecError:
        pass


@pytest.mark.parametrize("text, value", [
    ("${width}", 2),
    ("${sizes}", [32, 16, 8, 4]),
    ("exit${width}", "exit2"),
    ("${name}.conv${width + 1}", "l1.conv3"),
    ("a$${b}", "a${b}"),
    ("no expression", "no expression"),
    ("  ${width}", "  2"),
    ("${ratio}", 0.5),
])
def test_substitute(text, value):
    got = substitute(text, SCOPE)
    assert got == value and type(got) is type(value)


def test_unterminated_expression():
    with pytest.raises(ExprError, match="unterminated"):
        substitute("${width", SCOPE)
