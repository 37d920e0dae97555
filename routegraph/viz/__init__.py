"""Pictures of routed networks and runs (docs/visualization.md).

- :func:`architecture_dot` (graphviz): the architecture of a compiled graph.
- :func:`render_dataflow` / :func:`dataflow_figure` (matplotlib): dataflow node-link diagrams (Figs. 6-7).
- :func:`plot_curves` / :func:`curves_figure`: accuracy/efficiency curves (Figs. 5, 9, 10).
- :func:`plot_over_training` / :func:`over_training_figure`: dataflow over training (Fig. 8).
- :func:`write_report`: a self-contained HTML report.
- :func:`find_runs`: run directories from paths, directories of runs and globs.

Names are imported lazily, so ``import routegraph.viz`` loads neither
matplotlib nor graphviz (nor torch, ever).
"""
from __future__ import annotations

_LAZY = {
    "architecture_dot": "architecture",
    "render_diagram": "render",
    "write_diagram": "render",
    "save_figure": "render",
    "dataflow_figure": "dataflow",
    "dataflow_rows": "dataflow",
    "render_dataflow": "dataflow",
    "dataflow_glyphs": "geometry",
    "tree_layout": "geometry",
    "glyph_radius": "geometry",
    "accuracy_efficiency_curves": "curves",
    "curves_figure": "curves",
    "plot_curves": "curves",
    "training_figure": "curves",
    "over_training_figure": "heatmap",
    "plot_over_training": "heatmap",
    "report_html": "report",
    "write_report": "report",
    "check_in_browser": "browser",
    "find_runs": "runs",
    "load_run_info": "runs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
