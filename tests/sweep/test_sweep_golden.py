"""Golden error messages of experiment and budgets files: each golden/<case>.yaml must
fail with exactly golden/<case>.txt (``file:line:col: dotted.path: what is wrong (allowed)``).

Regenerate with ``ROUTEGRAPH_UPDATE_GOLDEN=1 pytest tests/sweep/test_sweep_golden.py``
(then review the diff). A case whose ``kind`` is ``budgets`` is read as a budgets file.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from routegraph.sweep import ExperimentError, load_budgets_file, load_experiment
from golden_files import check_golden_messages

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.yaml"))


def _messages(path: Path) -> str:
    load = load_budgets_file if "\nkind: budgets\n" in path.read_text(encoding="utf-8") else load_experiment
    with pytest.raises(ExperimentError) as info:
        load(Path(path.name))  # relative, so the messages do not name this checkout
    return str(info.value) + "\n"


def test_there_are_golden_cases():
    assert len(CASES) >= 5


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_golden_error_messages(path, monkeypatch):
    monkeypatch.chdir(GOLDEN)
    check_golden_messages(path, _messages(path))
