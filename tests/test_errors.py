"""The one exception tree (routegraph/errors.py): every exception class the package defines
derives from RouteGraphError, the tree in errors.py's docstring names every class there with
its real bases, and a registry miss is a plain one-line lookup error, not a located spec error."""
from __future__ import annotations

import ast
import builtins
import inspect
import re
from pathlib import Path

import pytest

import routegraph
import routegraph.errors as errors
from routegraph.cli.main import main
from routegraph.errors import ExperimentError, LocatedError, RouteGraphError, SpecError, UnknownNameError

PACKAGE = Path(routegraph.__file__).parent
# warnings are not errors: a warning class may derive from UserWarning anywhere
BUILTIN_EXCEPTIONS = {name for name, obj in vars(builtins).items()
                      if isinstance(obj, type) and issubclass(obj, BaseException) and not issubclass(obj, Warning)}


def _class_defs():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                yield path, node


def test_no_exception_class_outside_errors_py_derives_from_a_builtin_exception():
    offenders = []
    for path, node in _class_defs():
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        bases = {b.id for b in node.bases if isinstance(b, ast.Name)} | {b.attr for b in node.bases
                                                                        if isinstance(b, ast.Attribute)}
        if bases & BUILTIN_EXCEPTIONS:
            offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: class {node.name}({', '.join(sorted(bases))})")
    assert not offenders, "derive these from routegraph.errors classes:\n" + "\n".join(offenders)


def test_the_scan_finds_a_builtin_based_class(tmp_path):
    # the oracle of the scan above: a class on a built-in base is seen
    tree = ast.parse("class Oops(ValueError):\n    pass\n")
    (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    assert {b.id for b in node.bases} & BUILTIN_EXCEPTIONS == {"ValueError"}


def _error_classes():
    return {name: cls for name, cls in vars(errors).items()
            if isinstance(cls, type) and issubclass(cls, BaseException) and cls.__module__ == errors.__name__}


def test_every_class_in_errors_py_derives_from_routegraph_error():
    for name, cls in _error_classes().items():
        assert issubclass(cls, RouteGraphError), name


def test_the_docstring_tree_names_every_class_with_its_bases():
    tree = errors.__doc__.split("::", 1)[1].split("\n\n", 2)[1]
    parents: dict[str, set[str]] = {}
    stack: list[tuple[int, str]] = []
    for line in tree.splitlines():
        match = re.match(r"^([\s│├└─]*)(\w+)((?: \+ \w+)*)", line)
        if not match or not match.group(2)[0].isupper():
            continue
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        also = set(re.findall(r"\+ (\w+)", match.group(3)))
        parents.setdefault(name, set()).update(also | ({stack[-1][1]} if stack else set()))
        stack.append((depth, name))
    classes = _error_classes()
    assert set(classes) <= set(parents), f"not in the tree: {set(classes) - set(parents)}"
    for name, named in parents.items():
        cls = classes.get(name) or getattr(__import__("routegraph.spec.expressions", fromlist=[name]), name)
        real = {b.__name__ for b in cls.__bases__}
        assert named == real or (name == "RouteGraphError" and real == {"Exception"}), (name, named, real)


def test_a_registry_miss_is_a_plain_lookup_error_not_a_spec_error():
    from routegraph.kinds import get_kind

    with pytest.raises(UnknownNameError) as info:
        get_kind("relux")
    assert isinstance(info.value, KeyError) and isinstance(info.value, RouteGraphError)
    assert not isinstance(info.value, (SpecError, LocatedError))
    assert str(info.value).startswith("unknown layer kind 'relux'; did you mean 'relu'? (known: ")
    assert "\n" not in str(info.value) and ":0:0" not in str(info.value)


def test_spec_and_experiment_errors_share_the_located_base():
    assert issubclass(SpecError, LocatedError) and issubclass(ExperimentError, LocatedError)
    assert not issubclass(UnknownNameError, LocatedError)
    assert "problems" in inspect.signature(LocatedError).parameters


def test_the_cli_prints_a_lookup_miss_as_one_line_without_a_location(tmp_path, capsys):
    spec = Path(__file__).parents[1] / "specs" / "tiny_chain.yaml"
    code = main(["train", str(spec), "--strategy", "static", "--static-exit", "nope", "--iterations", "1",
                 "--data", "synthetic", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [err]
    assert err.startswith("unknown classifier 'nope' (known: ") and "<spec>" not in err and "<root>" not in err


@pytest.mark.parametrize("name", [None, 3, 1.5])
def test_a_lookup_of_something_that_is_not_a_name_is_the_standard_error(name):
    from routegraph.methods import get_method

    with pytest.raises(UnknownNameError, match=rf"unknown strategy {name!r} \(known: actor, "):
        get_method(name)
