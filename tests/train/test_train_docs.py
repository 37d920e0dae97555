"""The worked example of docs/training.md, "Strategies, and your own", runs as written: it registers a
strategy and trains a run whose id carries the strategy's short id."""
from __future__ import annotations

import json
import re
from pathlib import Path

from routegraph.methods import method_names, unregister_method

DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_the_documented_strategy_trains(tmp_path, monkeypatch):
    section = DOC.read_text(encoding="utf-8").split("## Strategies, and your own", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny_chain.yaml").write_text((DOC.parents[1] / "specs" / "tiny_chain.yaml").read_text())
    try:
        exec(compile(code, str(DOC), "exec", dont_inherit=True), {"__name__": "docs_example"})
        written = json.loads((tmp_path / "runs" / "ha" / "config.json").read_text())
        assert written["method"] == "halved_actor" and written["run_id"].startswith("ha-1e-07-")
        assert (tmp_path / "runs" / "ha" / "eval.json").exists()
    finally:
        unregister_method("halved_actor")
    assert "halved_actor" not in method_names()
