"""Golden error messages: a case ``golden/<name>.yaml`` must fail with exactly ``golden/<name>.txt``.

``ROUTEGRAPH_UPDATE_GOLDEN=1 pytest ...`` rewrites the expected files (then review the diff).
"""
from __future__ import annotations

import os
from pathlib import Path

UPDATE = os.environ.get("ROUTEGRAPH_UPDATE_GOLDEN") == "1"


def check_golden_messages(case: Path, got: str) -> None:
    """``got`` equals the case's ``.txt``, and each line reads ``file:line:col: dotted.path: message``
    with the case's own file name and a real position."""
    expected_file = case.with_suffix(".txt")
    if UPDATE:
        expected_file.write_text(got, encoding="utf-8")
    assert expected_file.exists(), f"no {expected_file.name}: run with ROUTEGRAPH_UPDATE_GOLDEN=1"
    assert got == expected_file.read_text(encoding="utf-8")
    for line in got.splitlines():
        file, line_no, col, rest = line.split(":", 3)
        assert file == case.name and int(line_no) > 0 and int(col) > 0 and rest.startswith(" ")
