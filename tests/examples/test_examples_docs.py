"""The docs of the examples: the README's Python script runs as printed, and every file under
examples/ that a doc cites exists."""
from __future__ import annotations

import json
import re

import pytest

from example_helpers import EXAMPLES, ROOT, link_examples, section

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *EXAMPLES.glob("*/README.md")])


def readme_script() -> str:
    text = section((ROOT / "README.md").read_text(encoding="utf-8"), "## Python")
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_script_is_short_and_uses_the_top_level_api():
    code = readme_script()
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 15, len(lines)
    for name in ("Task", "compile_spec", "load_spec", "train_run", "load_run", "route"):
        assert f"routegraph.{name}(" in code or f"routegraph.{name}." in code, name


def test_the_readme_script_runs_as_printed(tmp_path, monkeypatch, capsys):
    link_examples(tmp_path)
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_script(), "README.md", "exec", dont_inherit=True), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert re.search(r"ops per path: \[\d+, \d+, \d+\]", out) and re.search(r"test accuracy [01]\.\d\d, mean ops", out)
    evaluations = json.loads((tmp_path / "runs" / "my-mlp" / "eval.json").read_text())["evaluations"]
    assert [e["n"] for e in evaluations] == [100]


def _cited(doc) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    # examples/NAME/..., as text (a rate such as "examples/s" is not a path)
    found = {m.rstrip("/.") for m in re.findall(r"(?<![\w/.])examples/[\w-]+/[\w./-]*", text)}
    base = doc.parent  # links relative to the doc: ../examples/..., or examples/... from the README
    found |= {str((base / link).resolve().relative_to(ROOT)) for link in re.findall(r"\]\(([^)#]*examples/[^)#]+)", text)
              if (base / link).resolve().is_relative_to(ROOT)}
    return sorted(found)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_file_a_doc_cites_exists(doc):
    missing = [path for path in _cited(doc) if not (ROOT / path).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} cites {missing}"


def test_the_citation_check_can_fail(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("see examples/resnet_plugin/spec.yaml. And examples/nope/, at 3 examples/s", encoding="utf-8")
    assert _cited(doc) == ["examples/nope", "examples/resnet_plugin/spec.yaml"]
    assert not (ROOT / "examples/nope").exists()


def test_every_example_is_in_docs_examples_md():
    text = (ROOT / "docs" / "examples.md").read_text(encoding="utf-8")
    for example in sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()):
        assert f"examples/{example}/" in text, example


def _calibrated_runs_trained_fixed(text: str) -> list[str]:
    """`routegraph train ... --out RUN` lines, in a doc, of runs the same doc then calibrates without
    `--dynamic-k-cpt`: calibrate can only report such a run's fixed op count, never meet a budget."""
    trains = {m.group(2): m.group(1) for m in re.finditer(r"^\s*(routegraph train .*?--out (\S+).*)$", text, re.M)}
    calibrated = re.findall(r"^\s*routegraph calibrate (\S+)", text, re.M)
    return [trains[run] for run in calibrated if run in trains and "--dynamic-k-cpt" not in trains[run]]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_run_a_doc_calibrates_is_trained_calibratable(doc):
    assert not _calibrated_runs_trained_fixed(doc.read_text(encoding="utf-8"))


def test_the_calibratable_check_can_fail():
    text = "    routegraph train s.yaml --out runs/a\n    routegraph calibrate runs/a --budget-ops 1\n"
    assert _calibrated_runs_trained_fixed(text) == ["routegraph train s.yaml --out runs/a"]
    assert not _calibrated_runs_trained_fixed(text.replace("--out", "--dynamic-k-cpt --out"))
