"""What the sweep prints, and what the docs and sources cite, names files that are in the repository."""
import re
from pathlib import Path

import pytest

from routegraph.sweep.schema import load_experiment

REPO = Path(__file__).resolve().parents[2]
# a file name ending in .md, optionally with folders, not part of a URL or a longer path
CITATION = re.compile(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w.-]+\.md)\b")


def _missing(text: str, here: Path) -> list[str]:
    """Cited .md files found neither from the repository root, nor beside ``here``, nor in docs/."""
    return sorted({ref for ref in CITATION.findall(text)
                   if not any(p.is_file() for p in (REPO / ref, here.parent / ref, REPO / "docs" / ref))})


@pytest.mark.parametrize("path", sorted(p.name for p in (REPO / "experiments").glob("*.yaml") if p.name != "budgets.yaml"))
def test_the_sweep_prints_only_citations_of_files_in_the_repository(path):
    experiment = load_experiment(REPO / "experiments" / path)
    printed = "\n".join(b.describe() for b in experiment.budgets.values())
    printed += "\n" + experiment.model.description
    assert "deviation from the paper" in printed
    assert _missing(printed, experiment.file) == []


def test_docs_experiments_and_sources_cite_files_in_the_repository():
    files = [*REPO.glob("docs/**/*.md"), REPO / "README.md", *REPO.glob("experiments/*.yaml"),
             *REPO.glob("specs/*.yaml"), *REPO.glob("routegraph/**/*.py"), *REPO.glob("benchmarks/*.py")]
    missing = {str(f.relative_to(REPO)): m for f in files if (m := _missing(f.read_text(encoding="utf-8"), f))}
    assert missing == {}
