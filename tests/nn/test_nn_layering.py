"""routegraph/nn/ imports nothing from the layers above it (routing, train, infer, sweep, cli, viz):
every ``import`` in every module, function-level ones included, read from the source (ast)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import routegraph

PACKAGE = Path(routegraph.__file__).parent
ABOVE_NN = ("routegraph.routing", "routegraph.train", "routegraph.infer", "routegraph.sweep", "routegraph.cli",
            "routegraph.viz")
NN_MODULES = sorted(p.name for p in (PACKAGE / "nn").glob("*.py"))


def imported_modules(source: str, module: str) -> set[str]:
    """Every module that ``source`` (the text of ``module``, dotted) imports, anywhere in it:
    relative imports resolved, ``from X import name`` counted as both ``X`` and ``X.name``."""
    package = module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                head = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{head}.{base}" if base else head
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def upward(found: set[str]) -> list[str]:
    return sorted(m for m in found if any(m == top or m.startswith(top + ".") for top in ABOVE_NN))


def test_the_scan_sees_relative_and_function_level_imports():
    """The checker itself: the import RoutedNetwork.route used to make is caught."""
    source = "import torch\ndef route(self, x):\n    from ..infer.executor import route\n    return route(self, x)\n"
    assert upward(imported_modules(source, "routegraph.nn.model")) == ["routegraph.infer.executor",
                                                                       "routegraph.infer.executor.route"]
    assert upward(imported_modules("from .. import train\n", "routegraph.nn.model")) == ["routegraph.train"]
    assert upward(imported_modules("from ..graph import compile_spec\n", "routegraph.nn.model")) == []


@pytest.mark.parametrize("name", NN_MODULES)
def test_nn_imports_nothing_from_above(name):
    path = PACKAGE / "nn" / name
    module = "routegraph.nn." + (path.stem if path.stem != "__init__" else "__init__")
    assert upward(imported_modules(path.read_text(), module)) == []
