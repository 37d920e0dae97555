"""Every example in the library's docstrings runs and prints what it says.

Examples that need objects a docstring cannot build cheaply carry ``# doctest: +SKIP``;
everything else runs here (from the repository root, where the examples' relative
paths such as ``specs/chain_8layer.yaml`` point), so a documented number cannot
drift from the code again (issue 16: the compiler's docstring said 20,538,432 ops
for the chain's deepest path while the code computes 20,643,552).
"""
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import routegraph

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted(m.name for m in pkgutil.walk_packages(routegraph.__path__, "routegraph.")
                 if not m.name.endswith("__main__"))  # __main__ runs the CLI on import


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(REPO)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (output above)"


def test_the_compiler_example_runs():
    """The example that drifted is run, not skipped."""
    finder = doctest.DocTestFinder()
    (module_doc,) = [t for t in finder.find(importlib.import_module("routegraph.graph.compiler"))
                     if t.name == "routegraph.graph.compiler"]
    runnable = [e for e in module_doc.examples if not e.options.get(doctest.SKIP)]
    assert any("paths[-1].ops" in e.source for e in runnable)
