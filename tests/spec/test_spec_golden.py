"""Golden error messages: each golden/<case>.yaml must fail with exactly golden/<case>.txt.

Regenerate the expected files with ``ROUTEGRAPH_UPDATE_GOLDEN=1 pytest tests/spec/test_spec_golden.py``
(then review the diff). A first line ``# overrides: a=1 b=2`` passes ``--set`` overrides.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from routegraph.errors import SpecError
from routegraph.spec import loads_spec, parse_overrides
from golden_files import check_golden_messages

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.yaml"))


def _messages(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    overrides = {}
    first = text.splitlines()[0]
    if first.startswith("# overrides:"):
        overrides = parse_overrides(first.partition(":")[2].split())
    with pytest.raises(SpecError) as info:
        loads_spec(text, file=path.name, overrides=overrides)
    return str(info.value) + "\n"


def test_there_are_golden_cases():
    assert len(CASES) >= 5


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_golden_error_messages(path):
    check_golden_messages(path, _messages(path))
