"""Dataflow over the course of training (paper Fig. 8).

A heatmap per run: the fraction of validation images classified at each
classifier (x, in layer order) at every evaluation line of ``metrics.jsonl``
(y, iterations). Several runs are side-by-side panels ordered by k_cpt, with
one shared colour scale.

>>> fig = over_training_figure(find_runs(["runs/ac-4e-9"]))   # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

from .geometry import tree_layout
from .render import new_figure, save_figure
from .runs import NoRunsError, RunInfo, sort_by_k_cpt
from .style import format_k_cpt, method_display_name

CMAP = "viridis"


@dataclass
class TrainingDataflow:
    iterations: list[int]
    classifiers: list[str]  # columns, in layer order (then tree order)
    layers: list[int]  # the layer index of each column
    fractions: list[list[float]]  # one row per iteration, one column per classifier


def training_dataflow(run: RunInfo) -> TrainingDataflow | None:
    """The fraction matrix of ``run``'s evaluation lines, or None if it has none."""
    history = run.eval_history
    if not history:
        return None
    layout = tree_layout(run.graph)
    order = sorted(run.graph.classifiers, key=lambda c: (layout.layers[c], layout.positions[c][1]))
    rows = []
    for _, record in history:
        stats = record.get("classifiers", {})
        n = record.get("n") or sum(int(s.get("count", 0)) for s in stats.values()) or 1
        rows.append([float(stats[c]["fraction"]) if "fraction" in stats.get(c, {})
                     else int(stats.get(c, {}).get("count", 0)) / n for c in order])
    return TrainingDataflow([i for i, _ in history], order, [layout.layers[c] for c in order], rows)


def _edges(values: list[int]) -> list[float]:
    """Cell edges around sorted centres (the first cell starts at 0 or half a step before)."""
    if len(values) == 1:
        half = max(values[0], 1) * 0.5
        return [values[0] - half, values[0] + half]
    mids = [(a + b) / 2 for a, b in zip(values, values[1:])]
    first = max(0.0, values[0] - (mids[0] - values[0]))
    return [first] + mids + [values[-1] + (values[-1] - mids[-1])]


def over_training_figure(runs: list[RunInfo], *, title: str | None = None):
    """The Fig. 8 heatmaps of ``runs`` (a matplotlib Figure). Raises :class:`NoRunsError`
    if no run has evaluation lines in its metrics log."""
    panels = [(run, data) for run in sort_by_k_cpt(runs) if (data := training_dataflow(run)) is not None]
    if not panels:
        names = ", ".join(r.name for r in runs[:5]) + (" ..." if len(runs) > 5 else "")
        raise NoRunsError(f"no evaluation lines in metrics.jsonl of {names}; train with --eval-every N "
                          f"to record dataflow over training")
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    width_per = max(2.6, 0.32 * max(len(d.classifiers) for _, d in panels) + 1.0)
    fig = new_figure(min(cols * width_per + 1.2, 22), rows * 3.2 + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    several_methods = len({r.label for r, _ in panels}) > 1
    mesh = None
    for index, (run, data) in enumerate(panels):
        ax = axes[index // cols][index % cols]
        x_edges = [i - 0.5 for i in range(len(data.classifiers) + 1)]
        mesh = ax.pcolormesh(x_edges, _edges(data.iterations), data.fractions, cmap=CMAP, vmin=0.0, vmax=1.0,
                             shading="flat", rasterized=True)
        chain = len(set(data.layers)) == len(data.layers)
        ax.set_xticks(range(len(data.classifiers)),
                      [str(layer) for layer in data.layers] if chain or len(data.layers) > 12 else data.classifiers,
                      rotation=0 if chain or len(data.layers) > 12 else 90, fontsize=7 if len(data.layers) > 12 else 8)
        ax.set_xlabel("Layer index" if chain else "Classifier (by layer index)")
        if index % cols == 0:
            ax.set_ylabel("Training iteration")
        name = f"$k_{{cpt}}$ = {format_k_cpt(run.k_cpt, tex=True)}" if not run.dynamic else "dynamic $k_{cpt}$"
        if several_methods:
            name = f"{method_display_name(run.config)}, {name}"
        ax.set_title(f"{name}\n{run.name}", fontsize=8)
    for index in range(len(panels), rows * cols):
        axes[index // cols][index % cols].set_visible(False)
    fig.colorbar(mesh, ax=axes.ravel().tolist(), label="Fraction of validation images", shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_over_training(runs: list[RunInfo], out, *, title: str | None = None):
    """Write the Fig. 8 heatmaps of ``runs`` to ``out``; returns the path."""
    return save_figure(over_training_figure(runs, title=title), out)
