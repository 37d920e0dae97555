"""Write one benchmark's section of docs/benchmarks.md, keeping the others."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routegraph.io import atomic_write_text  # noqa: E402


def _section_pattern(heading: str) -> re.Pattern:
    """The ``heading`` section: from its line up to the next '## ' heading or the end."""
    return re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)


def read_section(path: Path, heading: str) -> str | None:
    """The ``heading`` section of ``path`` as written there, or ``None``."""
    found = _section_pattern(heading).search(Path(path).read_text())
    return found.group(0) if found else None


def write_section(path: Path, text: str, heading: str) -> None:
    """Replace the ``heading`` section of ``path`` (up to the next '## ' heading) by ``text``,
    or append it; written atomically."""
    path = Path(path)
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = _section_pattern(heading)
    body = text.rstrip("\n") + "\n"
    if pattern.search(old):
        new = pattern.sub(lambda _: body + "\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + body
    atomic_write_text(path, new.rstrip("\n") + "\n")
    print(f"wrote the '{heading}' section of {path}")


def save_results(path, results: dict) -> Path:
    """Write a benchmark's raw results as JSON (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"results: {path}")
    return path


def publish(text: str, docs, heading: str, write: bool = True) -> None:
    """Print a rendered section and, if ``write``, put it into ``docs`` (:func:`write_section`)."""
    print()
    print(text)
    if write:
        write_section(Path(docs), text, heading)
