"""The run-directory format (docs/run-format.md): its files, run ids and short method names.

The one home of how a run directory is read and written; ``train`` writes runs through it,
and ``viz``, ``sweep`` and ``cli`` read them through it. Nothing here imports torch (the
model of a run is loaded by :func:`routegraph.train.rundir.load_run`, which imports it lazily).

>>> import tempfile
>>> run = Path(tempfile.mkdtemp())
>>> write_config(run, {"format": RUN_FORMAT, "run_id": "ac-1e-08-abcdef", "method": "actor"})
>>> read_config(run)["run_id"]
'ac-1e-08-abcdef'
>>> write_evaluations(run, "ac-1e-08-abcdef", ["a", "b"], [{"k_cpt": 1e-8, "error_rate": 0.5}])["evaluations"]
[{'k_cpt': 1e-08, 'error_rate': 0.5}]
>>> short_name("pragmatic_critic")
'pc'
>>> import shutil; shutil.rmtree(run)
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CheckpointError, NotARunError
from .io import atomic_write_json, atomic_write_text, read_json_lines
from .k_cpt import K_CPT_INPUT_SCALE
from .methods import get_method

if TYPE_CHECKING:  # no import at run time: train/ sits above this module
    from .train.config import TrainConfig

RUN_FORMAT = "routegraph.run/1"
CONFIG, COMPILED, EVALUATIONS, METRICS, CHECKPOINT, LOCK = (
    "config.json", "compiled.json", "eval.json", "metrics.jsonl", "checkpoint.pt", ".lock")
RUN_FILES = (CONFIG, COMPILED, EVALUATIONS, METRICS, CHECKPOINT)

def short_name(method: str) -> str:
    """The short id of ``method`` in run ids (``ac-1e-08-...``), as its declaration says (routegraph.methods).

    >>> short_name("actor"), short_name("static")
    ('ac', 'sr')
    """
    return get_method(method).short


# ----------------------------------------------------------------------------- reading
def read_json(path: str | Path):
    """The JSON in ``path``; a missing, undecodable or invalid file is one
    :class:`CheckpointError` line naming it.

    >>> read_json("no/such/config.json")
    Traceback (most recent call last):
    routegraph.errors.CheckpointError: no/such/config.json: missing; is no/such a routegraph run directory?
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; is {path.parent} a routegraph run directory?") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not a text file (not UTF-8)") from None


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` holds a ``config.json`` (the mark of a run directory)."""
    return (Path(path) / CONFIG).is_file()


def read_config(path: str | Path) -> dict:
    """The validated ``config.json`` of run directory ``path``; :class:`NotARunError`
    when ``path`` is not a routegraph run.

    >>> read_config("no/such/run")
    Traceback (most recent call last):
    routegraph.errors.NotARunError: no/such/run: no such run directory
    """
    path = Path(path)
    if not path.is_dir():
        raise NotARunError(f"{path}: no such run directory")
    if not is_run_dir(path):
        raise NotARunError(f"{path}: not a run directory (no {CONFIG})")
    config = read_json(path / CONFIG)
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise NotARunError(f"{path / CONFIG}: not a routegraph run (format {found!r}, expected {RUN_FORMAT!r})")
    return config


def read_compiled(path: str | Path):
    """The run's compiled graph (``compiled.json``) as a :class:`~routegraph.graph.compiled.CompiledGraph`."""
    from .graph.compiled import CompiledGraph

    file = Path(path) / COMPILED
    data = read_json(file)
    try:
        return CompiledGraph.from_json(data, str(file))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{file}: not a compiled graph ({exc})") from None


def read_evaluations(path: str | Path) -> dict:
    """``eval.json`` of run directory ``path`` (``{}`` when there is none yet), validated."""
    file = Path(path) / EVALUATIONS
    if not file.exists():
        return {}
    data = read_json(file)
    if not isinstance(data, dict) or not isinstance(data.get("evaluations", []), list):
        raise CheckpointError(f"{file}: expected an object with a list of 'evaluations'")
    return data


def read_metrics(path: str | Path) -> list[dict]:
    """Every line of ``metrics.jsonl`` (``[]`` when there is none); a torn last line (a run
    still writing) is skipped, a damaged line elsewhere is a :class:`CheckpointError`."""
    file = Path(path) / METRICS
    if not file.exists():
        return []
    return [record for _, record in read_metrics_lines(file)[0]]


def read_metrics_lines(file: str | Path) -> tuple[list[tuple[str, dict]], str | None]:
    """:func:`routegraph.io.read_json_lines` of a metrics file, undecodable bytes reported as
    :func:`read_json` reports them."""
    try:
        return read_json_lines(file)
    except UnicodeDecodeError:
        raise CheckpointError(f"{file}: not a text file (not UTF-8)") from None


# ----------------------------------------------------------------------------- writing
def write_config(path: str | Path, record: dict) -> None:
    """Write (atomically) the run's ``config.json``."""
    atomic_write_json(Path(path) / CONFIG, record)


def write_compiled(path: str | Path, graph) -> None:
    """Write (atomically) the run's ``compiled.json`` from a compiled graph."""
    atomic_write_json(Path(path) / COMPILED, graph.to_json())


def append_metrics(file: str | Path, record: dict) -> None:
    """Append one line (``record``, a JSON object) to a ``metrics.jsonl``."""
    with Path(file).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def keep_metrics_until(file: str | Path, iteration: int) -> str | None:
    """Drop the lines of a ``metrics.jsonl`` past ``iteration`` (written after the checkpoint a
    run resumes from), and a torn last line; returns a note naming the torn line, if any."""
    records, torn = read_metrics_lines(file)
    kept = [line for line, record in records if record.get("iteration", 0) <= iteration]
    atomic_write_text(file, "".join(line + "\n" for line in kept))
    return torn


def write_evaluations(path: str | Path, run_id: str, class_names, records: list[dict]) -> dict:
    """Merge ``records`` into eval.json, replacing any with the same k_cpt."""
    current = read_evaluations(path)
    new_keys = {r["k_cpt"] for r in records}
    kept = [r for r in current.get("evaluations", []) if r["k_cpt"] not in new_keys]
    merged = sorted(kept + records, key=lambda r: (r["k_cpt"] is not None, r["k_cpt"] or 0.0))
    data = {"run_id": run_id, "class_names": list(class_names), "evaluations": merged}
    atomic_write_json(Path(path) / EVALUATIONS, data)
    return data


# ----------------------------------------------------------------------------- run ids
SPEED_ONLY = ("fast", "threads", "device", "dist_backend", "cuda_graph")
# Settings added after runs were first recorded: hashed only when changed, so old ids stay.
# val_fraction is hashed unless 0, what runs before the validation split trained with: a default run
# today (0.1: a tenth of train held out) must not take the id of an older run that trained on all of it.
HASHED_WHEN_CHANGED = {"sync_batch_norm": True, "val_fraction": 0.0, "val_max": 5000,
                       "k_cpt_input_scale": K_CPT_INPUT_SCALE, "precision": "fp32", "sampled": False,
                       "policy": "softmax", "epsilon": 0.1, "epsilon_half_life": None, "critic_targets": "realised",
                       "sampled_talr": "variance"}


def run_id(config: TrainConfig, spec_text: str, extra: dict) -> str:
    """A stable id: method, k_cpt and a hash of everything that defines the run.

    Settings that change speed, not results (fast mode, threads, device, backend, CUDA graph), stay
    out of the hash, so a run resumes under either.

    >>> from routegraph.train.config import TrainConfig
    >>> run_id(TrainConfig(method="actor", k_cpt=1e-8), "spec", {})[:9]
    'ac-1e-08-'
    """
    settings = {k: v for k, v in config.to_json().items()
                if k not in SPEED_ONLY and not (k in HASHED_WHEN_CHANGED and v == HASHED_WHEN_CHANGED[k])}
    blob = json.dumps({"config": settings, "spec": spec_text, **extra}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:6]
    if get_method(config.method).fixed_path:
        k = f"exit{config.static_classifier or 'last'}"
    else:
        k = "dyn" if config.dynamic_k_cpt else f"{config.k_cpt:.0e}".replace("+", "")
    return f"{short_name(config.method)}-{k}-{digest}"
