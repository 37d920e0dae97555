"""Checkpoints: written atomically, loaded with ``weights_only=True``."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CheckpointError
from ..io import atomic_torch_save

FORMAT = "routegraph.checkpoint/1"


def save_checkpoint(path: str | Path, trainer) -> None:
    """Save model, optimiser and loop state through a temp file and a rename."""
    atomic_torch_save({"format": FORMAT, **trainer.state_dict()}, path)


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint here (train first, or check --out)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a routegraph checkpoint (expected format {FORMAT!r})")
    return state
