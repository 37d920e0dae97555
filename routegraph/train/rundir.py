"""Reading and writing run directories (format: docs/run-format.md).

>>> run = load_run("runs/ac-4e-9")          # doctest: +SKIP
>>> run.model, run.graph, run.config["k_cpt"]  # doctest: +SKIP
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from ..graph.compiled import CompiledGraph
from ..io import atomic_write_json

RUN_FORMAT = "routegraph.run/1"


@dataclass
class Run:
    path: Path
    config: dict
    graph: CompiledGraph
    model: object = None  # RoutedNetwork once loaded

    @property
    def evaluations(self) -> list[dict]:
        return read_evaluations(self.path).get("evaluations", [])


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; is {Path(path).parent} a routegraph run directory?") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg})") from None


def load_run(path: str | Path, *, with_model: bool = True) -> Run:
    """Load a run's config and compiled graph, and (by default) its trained model."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run directory")
    config = read_json(path / "config.json")
    if config.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{path / 'config.json'}: not a routegraph run (format {config.get('format')!r}, expected {RUN_FORMAT!r})")
    graph = CompiledGraph.from_json(read_json(path / "compiled.json"))
    run = Run(path, config, graph)
    if with_model:
        from ..nn.model import build_model
        from .checkpoint import load_checkpoint

        run.model = build_model(graph)
        state = load_checkpoint(path / "checkpoint.pt")
        run.model.load_state_dict(state["model"])
        run.model.eval()
    return run


def read_evaluations(path: Path) -> dict:
    file = Path(path) / "eval.json"
    return read_json(file) if file.exists() else {}


def write_evaluations(path: Path, run_id: str, class_names, records: list[dict]) -> dict:
    """Merge ``records`` into eval.json, replacing any with the same k_cpt."""
    current = read_evaluations(path)
    new_keys = {r["k_cpt"] for r in records}
    kept = [r for r in current.get("evaluations", []) if r["k_cpt"] not in new_keys]
    merged = sorted(kept + records, key=lambda r: (r["k_cpt"] is not None, r["k_cpt"] or 0.0))
    data = {"run_id": run_id, "class_names": list(class_names), "evaluations": merged}
    atomic_write_json(Path(path) / "eval.json", data)
    return data
