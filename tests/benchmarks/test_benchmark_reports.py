"""The benchmark scripts beside the package: each one imports, and each saved result
renders to exactly the docs/benchmarks.md section it wrote (so the docs and the raw
numbers in docs/benchmark-results/ cannot drift apart)."""
import importlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(path.stem for path in BENCHMARKS.glob("*.py"))
SAVED = [  # (module with render, saved results, docs heading, docs page)
    ("inference_report", "inference.json", "## Routed inference", "benchmarks.md"),
    ("train_step_report", "train-step.json", "## Training step", "benchmarks.md"),
    ("device", "gpu-h200.json", "## On a GPU", "benchmarks.md"),
    ("transformer_inference", "transformer-inference.json", "## Routed transformer inference", "benchmarks.md"),
    ("serve_load", "serve-load.json", "## Under load", "serving.md"),
    ("precision", "precision.json", "## bf16 precision", "benchmarks.md"),
    ("sampled_critic", "sampled-critic.json", "## Sampled critics", "benchmarks.md"),
]


@pytest.fixture(autouse=True)
def benchmarks_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_benchmark_module_imports_and_says_what_it_is(name):
    module = importlib.import_module(name)
    assert module.__doc__ and len(module.__doc__.split()) > 5


@pytest.mark.parametrize("module, saved, heading, page", SAVED)
def test_saved_results_render_to_the_docs_section(module, saved, heading, page):
    results = json.loads((ROOT / "docs" / "benchmark-results" / saved).read_text())
    rendered = importlib.import_module(module).render(results).strip()
    assert rendered.splitlines()[0] == heading
    written = importlib.import_module("docs_section").read_section(ROOT / "docs" / page, heading)
    assert written is not None and rendered == written.strip()


def test_a_training_goal_needs_three_rounds_for_a_verdict():
    report = importlib.import_module("train_step_report")
    assert report.judge(True, 3) == "met" and report.judge(False, 7) == "not met"
    assert report.judge(True, 1).startswith("no verdict (1 round;")
