"""Checkpoints: written atomically, loaded with ``weights_only=True``, checked on load.

A checkpoint is one flat dict (format ``routegraph.checkpoint/2``): ``iteration``,
``model``, ``optimizer``, ``config`` (the TrainConfig), ``graph_sha256`` (the
fingerprint of the compiled graph the model was built from), ``run`` (the data
settings of the run) and ``sha256``, a digest of everything else. The digest
covers the contents, not the file's bytes: a flipped byte in a tensor or in a
setting is reported on load instead of being trained on. Format ``/1`` files
(no digest, no fingerprint) still load.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..io import atomic_torch_save

FORMAT = "routegraph.checkpoint/2"
READABLE = (FORMAT, "routegraph.checkpoint/1")
KINDS = {"iteration": int, "model": dict, "optimizer": dict}
FOR_RESUME = ("model", "optimizer", "iteration")


def save_checkpoint(path: str | Path, trainer, run: dict | None = None) -> None:
    """Save model, optimiser and loop state (plus ``run``, the run's data settings) through a
    temp file and a rename."""
    write_checkpoint(path, {**trainer.state_dict(), "graph_sha256": trainer.model.graph.fingerprint(),
                            "run": dict(run or {})})


def write_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` (at least ``model``) atomically as a checkpoint, with format tag and digest."""
    state = {"format": FORMAT, **state}
    state["sha256"] = content_digest(state)
    atomic_torch_save(state, path)


def load_checkpoint(path: str | Path, need: tuple[str, ...] = ("model",)) -> dict:
    """Load a checkpoint safely (tensors and plain containers only) and check it: format, the
    content digest, and the entries in ``need`` (resuming needs :data:`FOR_RESUME`). Any fault is
    a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint here (train first, or check --out)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        reason = _load_failure(exc)
        raise CheckpointError(f"{path}: cannot read checkpoint: damaged or not a routegraph checkpoint "
                              f"({exc.__class__.__name__}{': ' + reason if reason else ''})") from None
    if not isinstance(state, dict) or state.get("format") not in READABLE:
        raise CheckpointError(f"{path}: not a routegraph checkpoint (expected format {FORMAT!r})")
    if state["format"] == FORMAT:
        stored = state.pop("sha256", None)
        if stored != content_digest(state):
            raise CheckpointError(f"{path}: damaged checkpoint: its contents do not match the checksum stored "
                                  "with them (a flipped or truncated byte); resume from another copy, or retrain")
    for key in need:
        if not isinstance(state.get(key), KINDS[key]) or isinstance(state.get(key), bool):
            raise CheckpointError(f"{path}: damaged checkpoint: {key!r} is missing or not a {KINDS[key].__name__}")
    if "iteration" in state and (not isinstance(state["iteration"], int) or isinstance(state["iteration"], bool)
                                 or state["iteration"] < 0):
        raise CheckpointError(f"{path}: damaged checkpoint: iteration={state['iteration']!r}: "
                              "expected a non-negative iteration")
    return state


def _load_failure(exc: Exception) -> str:
    """A short first line of why ``torch.load`` failed, without torch's advice to load with
    ``weights_only=False`` (that runs arbitrary code from the file: never advise it)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    if "WeightsUnpickler error:" in text:  # the unpickler's own reason follows torch's advice
        text = text.split("WeightsUnpickler error:", 1)[1]
    elif "weights_only" in text or "Weights only" in text:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:120] if lines else ""


def load_model_state(model, state: dict, path: str | Path) -> None:
    """``model.load_state_dict(state["model"])``, with a clear error when the checkpoint was
    trained on another network (missing, unexpected or differently shaped weights)."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(f"{path}: the checkpoint does not fit this network (another spec or settings?): "
                              f"{detail[:300]}") from None


def content_digest(state) -> str:
    """sha256 over a nested structure of dicts, lists, tensors and scalars, in order
    (independent of how ``torch.save`` lays the file out)."""
    digest = hashlib.sha256()
    _feed(digest, state)
    return digest.hexdigest()


def _feed(digest, obj) -> None:
    if torch.is_tensor(obj):
        t = obj.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())  # a view: no copy
    elif isinstance(obj, dict):
        digest.update(f"D{len(obj)}|".encode())
        for key, value in obj.items():
            _feed(digest, key)
            _feed(digest, value)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"L{len(obj)}|".encode())
        for value in obj:
            _feed(digest, value)
    else:
        digest.update(f"{type(obj).__name__}:{obj!r}|".encode())
