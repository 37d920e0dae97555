"""Finding run directories and reading what the pictures need from them.

Only ``config.json`` and ``eval.json`` are read up front (so plotting dozens
of runs is quick); ``compiled.json`` and ``metrics.jsonl`` are read the first
time a picture asks for them. Nothing here imports torch. The files are read through
:mod:`routegraph.runs` (format: docs/run-format.md).

>>> runs = find_runs(["runs/"])                    # doctest: +SKIP
>>> [(r.name, r.label, r.k_cpt) for r in runs]      # doctest: +SKIP
"""
from __future__ import annotations

import glob
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable

from ..errors import ConfigError, NoRunsError, NotARunError  # noqa: F401  (NoRunsError: re-exported)
from ..graph.compiled import CompiledGraph
from ..runs import RUN_FILES, is_run_dir, read_compiled, read_config, read_evaluations, read_metrics

_GLOB_CHARS = set("*?[")


@dataclass
class RunInfo:
    """A run directory as the pictures see it."""

    path: Path
    config: dict
    eval_data: dict = field(default_factory=dict)

    # -- identity ------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_id(self) -> str:
        return str(self.config.get("run_id") or self.name)

    @property
    def method(self) -> str:
        return str(self.config.get("method", "?"))

    @property
    def label(self) -> str:
        return str(self.config.get("label") or self.method)

    @property
    def dynamic(self) -> bool:
        return bool(self.config.get("dynamic_k_cpt"))

    @property
    def k_cpt(self) -> float | None:
        k = self.config.get("k_cpt")
        return None if k is None else float(k)

    @property
    def spec_name(self) -> str:
        spec = self.config.get("spec")
        return Path(spec).stem if spec else self.graph.params.get("static_of", self.graph.name)

    @property
    def class_names(self) -> list[str]:
        names = self.eval_data.get("class_names") or self.config.get("class_names")
        if names:
            return [str(n) for n in names]
        n = self.graph.num_classes
        return [str(i) for i in range(n)]

    # -- lazily read files ---------------------------------------------------
    @cached_property
    def graph(self) -> CompiledGraph:
        return read_compiled(self.path)

    @cached_property
    def graph_key(self) -> str:
        """Equal for runs of the same network (compiled graph), whatever file it came from."""
        return self.graph.fingerprint()

    @cached_property
    def metrics(self) -> list[dict]:
        """Every line of metrics.jsonl; a truncated last line (a run still writing) is skipped."""
        return read_metrics(self.path)

    @property
    def training_log(self) -> list[dict]:
        """Training lines of metrics.jsonl (those without an 'eval')."""
        return [m for m in self.metrics if "eval" not in m and "iteration" in m]

    @property
    def eval_history(self) -> list[tuple[int, dict]]:
        """``(iteration, evaluation)`` for every evaluation line of metrics.jsonl, by iteration."""
        pairs = [(int(m["iteration"]), m["eval"]) for m in self.metrics if isinstance(m.get("eval"), dict) and "iteration" in m]
        return sorted(pairs, key=lambda p: p[0])

    # -- evaluations ---------------------------------------------------------
    @property
    def evaluations(self) -> list[dict]:
        """Test-split evaluations from eval.json, by k_cpt."""
        records = [e for e in self.eval_data.get("evaluations", []) if e.get("split", "test") == "test"]
        return sorted(records, key=lambda e: (e.get("k_cpt") is not None, e.get("k_cpt") or 0.0))

    def evaluation(self, k_cpt: float | None = None) -> dict | None:
        """The evaluation at ``k_cpt``; by default the one at the run's own k_cpt (else the first)."""
        records = self.evaluations
        if not records:
            return None
        wanted = self.k_cpt if k_cpt is None else k_cpt
        for record in records:
            if _same_k(record.get("k_cpt"), wanted):
                return record
        if k_cpt is not None:
            known = ", ".join(str(r.get("k_cpt")) for r in records)
            raise ConfigError(f"{self.path}: no evaluation at k_cpt={k_cpt:g} (evaluated at: {known}); "
                              f"run 'routegraph evaluate {self.path} --k-cpt {k_cpt:g}'")
        return records[0]

    def dataflow_evaluations(self, k_cpt: float | None = None) -> list[dict]:
        """What a dataflow row shows: one evaluation, or every one of a dynamic-k_cpt run."""
        if k_cpt is not None:
            return [self.evaluation(k_cpt)]
        if self.dynamic:
            return self.evaluations
        record = self.evaluation()
        return [record] if record else []

    def context(self) -> dict:
        """What distinguishes otherwise equally-labelled runs: spec, its parameters, data."""
        params = {k: v for k, v in (self.config.get("overrides") or self.config.get("spec_params") or {}).items()
                  if not str(k).startswith("static_")}
        spec = self.config.get("spec")
        return {"spec": Path(spec).stem if spec else "", "params": params, "data": self.config.get("data", "")}


def _same_k(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-9 * max(abs(float(a)), abs(float(b)), 1e-30)


def load_run_info(path: str | Path) -> RunInfo:
    """Read one run directory's config.json and eval.json (validated)."""
    return RunInfo(Path(path), read_config(path), read_evaluations(path))


def find_runs(paths: Iterable[str | Path], *, max_depth: int = 3) -> list[RunInfo]:
    """Run directories named by ``paths``: a run itself, a directory of runs (searched
    ``max_depth`` levels down), or a glob pattern (expanded here if the shell did not).

    Raises :class:`NoRunsError` when nothing is found and :class:`NotARunError`
    for a path that is neither a run nor holds runs.
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise NoRunsError("no run directories given")
    found: dict[Path, None] = {}
    for text in paths:
        path = Path(text)
        if not path.exists() and _GLOB_CHARS & set(text):
            matches = sorted(Path(m) for m in glob.glob(text))
            dirs = [m for m in matches if m.is_dir()]
            if not dirs:
                raise NoRunsError(f"no run directories match {text!r}")
            runs = [d for d in dirs if is_run_dir(d)] + [r for d in dirs if not is_run_dir(d) for r in _runs_below(d, max_depth)]
            if not runs:
                raise NoRunsError(f"{text!r} matches {len(dirs)} director{'y' if len(dirs) == 1 else 'ies'} but no runs (no config.json)")
            found.update(dict.fromkeys(runs))
            continue
        if not path.exists():
            raise NotARunError(f"{path}: no such run directory")
        if path.is_file():
            hint = " (pass the directory that holds it)" if path.name in RUN_FILES else ""
            raise NotARunError(f"{path}: a file, not a run directory{hint}")
        if is_run_dir(path):
            found[path] = None
            continue
        below = _runs_below(path, max_depth)
        if not below:
            raise NotARunError(f"{path}: not a run directory (no config.json), and no run directories inside it")
        found.update(dict.fromkeys(below))
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return [load_run_info(p) for p in unique.values()]


def _runs_below(root: Path, depth: int) -> list[Path]:
    if depth <= 0:
        return []
    out = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out.extend([child] if is_run_dir(child) else _runs_below(child, depth - 1))
    return out


def display_names(runs: list[RunInfo]) -> dict[Path, str]:
    """A short, unique name per run: its directory name, or its path below the runs' common
    parent where two runs share a directory name."""
    import os

    names = [r.name for r in runs]
    if len(set(names)) == len(names):
        return {r.path: r.name for r in runs}
    resolved = [str(r.path.resolve()) for r in runs]
    common = os.path.commonpath(resolved) if len(resolved) > 1 else str(Path(resolved[0]).parent)
    return {r.path: os.path.relpath(p, common) if names.count(r.name) > 1 else r.name for r, p in zip(runs, resolved)}


def sort_by_k_cpt(runs: list[RunInfo]) -> list[RunInfo]:
    """Runs ordered by k_cpt (dynamic runs last), then label and name."""
    return sorted(runs, key=lambda r: (r.k_cpt is None, r.k_cpt or 0.0, r.label, r.name))
