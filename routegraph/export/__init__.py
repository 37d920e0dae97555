"""Export trained runs for deployment outside PyTorch (``routegraph export RUN -o DIR``).

:func:`export_run` writes a run's network as ONNX graphs and a manifest that
:mod:`routegraph.deploy` runs path-only with numpy and ONNX Runtime (docs/deploy.md).

>>> export_run("runs/ac-4e-9", "deployed/ac")                       # doctest: +SKIP
PosixPath('deployed/ac')
"""
from __future__ import annotations

from pathlib import Path

from .onnx import FORMATS, OPSET, export_model

__all__ = ["FORMATS", "OPSET", "export_model", "export_run"]


def export_run(run: str | Path, folder: str | Path, *, format: str = "onnx", allow_import=None) -> Path:
    """Export the trained run directory ``run`` to ``folder`` (see :func:`export_model`); the manifest
    records its run id, class names, data recipe and k_cpt settings."""
    from ..train.rundir import load_run

    loaded = load_run(run, allow_import=allow_import)
    config = loaded.config
    metadata = {key: config.get(key) for key in ("run_id", "class_names", "data", "data_options", "k_cpt", "k_cpt_set")}
    if not config.get("dynamic_k_cpt"):
        metadata["k_cpt_set"] = None
    return export_model(loaded.model, folder, format=format, metadata=metadata)
