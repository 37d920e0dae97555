"""``${...}`` expressions: a small, safe evaluator (an AST walker, never ``eval``).

A string that is exactly ``"${expr}"`` becomes the *value* of ``expr`` with its
type (int, float, str, bool or list). ``${expr}`` inside a longer string is
interpolated as text (``"exit${i}"`` -> ``"exit3"``). ``$${`` writes a literal
``${``.

Grammar: int, float, str and bool literals; list literals; names (looked up in
the scope: params, then template arguments, then ``n_sinks`` in router
blocks); ``+ - * / // % **``; unary ``-`` and ``+``; indexing and slicing;
comparisons (``== != < <= > >=``, chained); and calls of ``min``, ``max``,
``int``, ``float``, ``round``, ``len`` and ``range`` (which returns a list).
Everything else (attributes, lambdas, comprehensions, keywords, ...) is
rejected. Sizes are bounded so no expression can exhaust memory or time.
"""
from __future__ import annotations

import ast
import operator
import re
import sys
import warnings
from typing import Any, Callable, Mapping

from ..errors import Problem, RouteGraphError, SpecError, did_you_mean, known_names

MAX_EXPR_CHARS = 1000
MAX_SEQUENCE = 100_000  # longest list or string an expression may build
MAX_INT_BITS = 10_000  # largest integer an expression may build (about 3,000 digits: printable)

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _range(*args):
    if not 1 <= len(args) <= 3 or not all(type(a) is int for a in args):
        raise TypeError("range() takes 1 to 3 integers")
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise ValueError(f"range() longer than {MAX_SEQUENCE}")
    return list(r)


def _int(*args):
    text = args[0] if args else None
    if isinstance(text, str) and sum(c.isdigit() for c in text) > sys.get_int_max_str_digits():
        raise ExprError(f"int() of a string of more than {sys.get_int_max_str_digits():,} digits")
    return int(*args)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "int": _int, "float": float, "round": round, "len": len, "range": _range,
}

_SYNTAX_NAMES = {
    ast.Attribute: "attribute access", ast.Lambda: "lambda", ast.ListComp: "comprehension",
    ast.SetComp: "comprehension", ast.DictComp: "comprehension", ast.GeneratorExp: "comprehension",
    ast.Dict: "dict literal", ast.Set: "set literal", ast.Tuple: "tuple (use a list)",
    ast.IfExp: "conditional expression", ast.BoolOp: "'and'/'or'", ast.NamedExpr: "':='",
    ast.JoinedStr: "f-string", ast.Starred: "'*' unpacking", ast.Await: "await",
}


class ExprError(SpecError):
    """An expression is invalid; ``message``/``allowed`` describe it (no location)."""

    def __init__(self, message: str, allowed: str = ""):
        self.message = message
        self.allowed = allowed
        super().__init__(Problem(message, allowed=allowed))


class Poisoned(RouteGraphError):
    """An expression used a name whose own definition failed (already reported)."""


#: Bind a name to POISON when its value could not be computed: using it then
#: fails silently (raises :class:`Poisoned`) instead of reporting a second error.
POISON = object()


def _check_size(value: Any) -> Any:
    if isinstance(value, (str, list)) and len(value) > MAX_SEQUENCE:
        raise ExprError(f"result too large (longer than {MAX_SEQUENCE})")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise ExprError("result too large", f"integers of at most {MAX_INT_BITS:,} bits")
    if isinstance(value, complex):
        raise ExprError("result is a complex number")
    return value


def _not_bool(*values: Any) -> None:
    """Booleans are not numbers here (Python would compute ``True * 16 == 16``)."""
    for value in values:
        if isinstance(value, bool):
            raise ExprError(f"arithmetic or indexing with the boolean {value}",
                            "booleans are true or false, not numbers; int(x) converts one")


def _pow(base: Any, exp: Any) -> Any:
    if type(exp) is int and isinstance(base, int) and abs(base) > 1:
        if abs(exp) * max(base.bit_length(), 1) > MAX_INT_BITS:
            raise ExprError("result too large", f"integers of at most {MAX_INT_BITS:,} bits")
    return base**exp


def _mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, list)) and isinstance(n, int) and len(seq) * max(n, 0) > MAX_SEQUENCE:
            raise ExprError(f"result too large (longer than {MAX_SEQUENCE})")
    return a * b


class _Evaluator:
    def __init__(self, scope: Mapping[str, Any]):
        self.scope = scope

    def eval(self, node: ast.AST) -> Any:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            what = _SYNTAX_NAMES.get(type(node), type(node).__name__)
            raise ExprError(f"unsupported syntax: {what}",
                            "allowed: literals, lists, names, + - * / // % **, indexing, comparisons, "
                            "and " + ", ".join(sorted(FUNCTIONS)) + "()")
        return _check_size(method(node))

    def _Expression(self, node: ast.Expression) -> Any:
        return self.eval(node.body)

    def _Constant(self, node: ast.Constant) -> Any:
        if type(node.value) not in (int, float, str, bool):
            raise ExprError(f"unsupported literal {node.value!r}", "allowed: int, float, str, bool")
        return node.value

    def _List(self, node: ast.List) -> list:
        return [self.eval(item) for item in node.elts]

    def _Name(self, node: ast.Name) -> Any:
        if node.id not in self.scope:
            known = sorted(k for k, v in self.scope.items() if v is not POISON)
            hint = did_you_mean(node.id, known)
            if node.id in FUNCTIONS:
                raise ExprError(f"{node.id!r} is a function: call it, e.g. {node.id}(...)")
            raise ExprError(f"unknown name {node.id!r}" + (f"; {hint}" if hint else ""),
                            "known: " + known_names(known) if known else "no names are defined here")
        value = self.scope[node.id]
        if value is POISON:
            raise Poisoned(node.id)
        return value

    def _BinOp(self, node: ast.BinOp) -> Any:
        op = type(node.op)
        if op not in _BINOPS:
            raise ExprError(f"unsupported operator {type(node.op).__name__}", "allowed: + - * / // % **")
        left, right = self.eval(node.left), self.eval(node.right)
        _not_bool(left, right)
        if op is ast.Pow:
            return _pow(left, right)
        if op is ast.Mult:
            return _mul(left, right)
        return _BINOPS[op](left, right)

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            _not_bool(value)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        raise ExprError(f"unsupported operator {type(node.op).__name__}", "allowed: unary - and +")

    def _Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            if type(op) not in _CMPOPS:
                raise ExprError(f"unsupported comparison {type(op).__name__}", "allowed: == != < <= > >=")
            right = self.eval(right_node)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True

    def _Subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        if not isinstance(value, (list, str)):
            raise ExprError(f"cannot index a {type(value).__name__}", "allowed: indexing lists and strings")
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else self.eval(p) for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            _not_bool(*parts)
            return value[slice(*parts)]
        index = self.eval(node.slice)
        _not_bool(index)
        return value[index]

    def _Call(self, node: ast.Call) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            shown = f"{name!r}" if name else "this"
            raise ExprError(f"cannot call {shown}", "allowed: " + ", ".join(sorted(FUNCTIONS)))
        if node.keywords:
            raise ExprError(f"{name}() takes no keyword arguments")
        args = [self.eval(arg) for arg in node.args]
        if name == "round" and len(args) == 2 and isinstance(args[1], int) and abs(args[1]) > 100:
            raise ExprError("round(): at most 100 digits")
        return FUNCTIONS[name](*args)


def evaluate(expr: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate one expression (the text between ``${`` and ``}``).

    Raises :class:`ExprError` (a :class:`SpecError`) on any invalid expression,
    and :class:`Poisoned` if it uses a name bound to :data:`POISON`.

    >>> evaluate("[16 * w] * 2", {"w": 2})
    [32, 32]
    """
    text = expr.strip()
    if not text:
        raise ExprError("empty expression '${}'")
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPR_CHARS} characters")
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for 8if: the error below says it
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression {text!r}: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError):  # e.g. null bytes, absurd nesting
        raise ExprError(f"invalid expression {text!r}") from None
    try:
        return _Evaluator(scope).eval(tree)
    except (ExprError, Poisoned):
        raise
    except ZeroDivisionError:
        raise ExprError(f"division by zero in {text!r}") from None
    except RecursionError:
        raise ExprError(f"expression too deeply nested: {text!r}") from None
    except (ArithmeticError, TypeError, ValueError, IndexError, MemoryError) as exc:
        raise ExprError(f"cannot evaluate {text!r}: {exc}") from None


_TOKEN = re.compile(r"\$\$\{|\$\{")


def has_expression(text: str) -> bool:
    """Whether ``text`` contains ``${`` (or the ``$${`` escape)."""
    return "${" in text


def substitute(text: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate the ``${...}`` parts of a string.

    ``"${expr}"`` alone returns the expression's value (any type); otherwise each
    ``${expr}`` is replaced by ``str(value)`` and a string is returned.

    >>> substitute("exit${k + 1}", {"k": 2})
    'exit3'
    >>> substitute("${k * 2}", {"k": 2})
    4
    """
    if "${" not in text:
        return text
    parts: list[tuple[bool, str]] = []  # (is_expression, text)
    pos = 0
    while True:
        match = _TOKEN.search(text, pos)
        if match is None:
            parts.append((False, text[pos:]))
            break
        parts.append((False, text[pos:match.start()]))
        if match.group() == "$${":
            parts.append((False, "${"))
            pos = match.end()
            continue
        end = text.find("}", match.end())
        if end < 0:
            raise ExprError(f"unterminated '${{' in {text!r}", "write ${expr}; write $${ for a literal ${")
        parts.append((True, text[match.end():end]))
        pos = end + 1
    parts = [p for p in parts if p[0] or p[1]]
    if len(parts) == 1 and parts[0][0]:
        return evaluate(parts[0][1], scope)
    out = []
    for is_expr, chunk in parts:
        if is_expr:
            value = evaluate(chunk, scope)
            out.append(_text(value))
        else:
            out.append(chunk)
    return "".join(out)


def _text(value: Any) -> str:
    try:
        return str(value)
    except ValueError as exc:  # int too large to print
        raise ExprError(f"cannot write the value as text: {exc}") from None
