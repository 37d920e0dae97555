"""Accuracy/efficiency curves (paper Figs. 5, 9, 10) and per-run training curves.

Runs are grouped into curves from their saved ``config.json``, with no labels
written by hand:

- runs with the same ``label`` (``static``, ``actor``, ...) and the same
  context (spec, spec parameters, data) form one curve, one point per run at
  the run's own k_cpt (static baselines: one point per depth);
- a dynamic-k_cpt run is a curve of its own: one point per k_cpt it was
  evaluated at;
- where contexts differ (e.g. the chain and the branching tree, or widths 1-3
  of Fig. 10), the varying parts are added to the legend names.

Points of a curve are joined in order of mean op count.

>>> fig = curves_figure(accuracy_efficiency_curves(find_runs(["runs/"])))   # doctest: +SKIP
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..methods import is_fixed_path
from .layout import fit_axes_row, legend_columns
from .render import new_figure, save_figure
from .runs import NoRunsError, RunInfo
from .style import color_cycle, format_k_cpt, format_ops, method_display_name, method_key

PLOT_SIZE = (5.6, 3.8)  # inches: the data area of the curves plot
PANEL_SIZE = (2.3, 1.7)  # inches: each training-curve panel

X_LABEL = "Mean op count (multiply-accumulates per example)"
Y_LABEL = "Error rate (test set)"


@dataclass
class CurvePoint:
    mean_ops: float
    error_rate: float
    k_cpt: float | None
    run: str


@dataclass
class Curve:
    key: str
    label: str
    kind: str  # "static" | "routed" | "dynamic"
    color: str = "#000000"
    points: list[CurvePoint] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


def _context_key(run: RunInfo) -> str:
    return json.dumps(run.context(), sort_keys=True, default=str)


def _context_suffix(run: RunInfo, varying: set[str]) -> str:
    ctx = run.context()
    parts = []
    if "spec" in varying and ctx["spec"]:
        parts.append(ctx["spec"])
    if "params" in varying and ctx["params"]:
        parts.append(", ".join(f"{k}={v}" for k, v in sorted(ctx["params"].items())))
    if "data" in varying and ctx["data"]:
        parts.append(str(ctx["data"]))
    return " (" + "; ".join(parts) + ")" if parts else ""


def accuracy_efficiency_curves(runs: list[RunInfo]) -> list[Curve]:
    """Group ``runs`` into curves (see the module docstring); runs without evaluations are left out."""
    usable = [r for r in runs if r.evaluations]
    if not usable:
        raise NoRunsError(f"none of the {len(runs)} run(s) has evaluations (eval.json); "
                          f"run 'routegraph evaluate RUN' first")
    contexts = [r.context() for r in usable]
    varying = {part for part in ("spec", "params", "data")
               if len({json.dumps(c[part], sort_keys=True, default=str) for c in contexts}) > 1}
    curves: dict[str, Curve] = {}
    for run in usable:
        kind = "dynamic" if run.dynamic else ("static" if is_fixed_path(run.method) else "routed")
        key = f"{method_key(run.config)}|{run.label}|{_context_key(run)}"
        if kind == "dynamic":
            key += f"|{run.path}"
        curve = curves.get(key)
        if curve is None:
            label = method_display_name(run.config) + _context_suffix(run, varying)
            curve = curves[key] = Curve(key, label, kind)
        curve.runs.append(run.name)
        records = run.evaluations if kind == "dynamic" else [run.evaluation()]
        for record in records:
            curve.points.append(CurvePoint(float(record["mean_ops"]), float(record["error_rate"]),
                                           record.get("k_cpt", run.k_cpt), run.name))
    # two dynamic curves with the same name: tell them apart by run
    names = [c.label for c in curves.values()]
    for curve in curves.values():
        if curve.kind == "dynamic" and names.count(curve.label) > 1:
            curve.label += f" [{curve.runs[0]}]"
    order = {"static": 0, "routed": 1, "dynamic": 2}
    result = sorted(curves.values(), key=lambda c: (order[c.kind], c.label))
    colors = color_cycle([c.key for c in result])
    for curve in result:
        curve.color = colors[curve.key]
        curve.points.sort(key=lambda p: (p.mean_ops, p.error_rate))
    return result


def curves_figure(curves: list[Curve], *, title: str | None = None, log_x: bool = False,
                  annotate: bool | None = None):
    """Error rate against mean op count, one line per curve (a matplotlib Figure); the legend
    sits at the right in room of its own, however many curves and however long their names."""
    fig = new_figure(7.0, 4.6)
    ax = fig.add_subplot()
    total = sum(len(c.points) for c in curves)
    annotate = total <= 30 if annotate is None else annotate
    markers = {"static": "s", "routed": "o", "dynamic": "D"}
    xs_all = [p.mean_ops for c in curves for p in c.points] or [0.0]
    ys_all = [p.error_rate for c in curves for p in c.points] or [0.0]
    span = (max(xs_all) or 1.0, (max(ys_all) - min(min(ys_all), 0.0)) or 1.0)
    labelled: list[tuple[float, float]] = []  # annotated points, in axis fractions: skip crowded ones
    for curve in curves:
        xs = [p.mean_ops for p in curve.points]
        ys = [p.error_rate for p in curve.points]
        ax.plot(xs, ys, marker=markers[curve.kind], ms=4.5, lw=1.6, color=curve.color,
                ls="--" if curve.kind == "dynamic" else "-", label=curve.label)
        if annotate and curve.kind != "static":
            for p in curve.points:
                at = (p.mean_ops / span[0], p.error_rate / span[1])
                if p.k_cpt is not None and all(abs(at[0] - a) + abs(at[1] - b) > 0.04 for a, b in labelled):
                    labelled.append(at)
                    ax.annotate(format_k_cpt(p.k_cpt, tex=True), (p.mean_ops, p.error_rate), xytext=(3, 3),
                                textcoords="offset points", fontsize=6, color=curve.color, alpha=0.8)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    if log_x:
        ax.set_xscale("log")
    else:
        ax.set_xlim(left=0)
        ax.xaxis.set_major_formatter(lambda value, _pos: format_ops(value))
    ax.set_ylim(bottom=0)
    ax.grid(True, lw=0.4, alpha=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    fit_axes_row(fig, [ax], [PLOT_SIZE], legend={"handles": handles, "labels": labels,
                                                 "ncols": legend_columns(len(handles), PLOT_SIZE[1])})
    return fig


def plot_curves(runs: list[RunInfo], out, *, title: str | None = None, log_x: bool = False):
    """Write the accuracy/efficiency figure of ``runs`` to ``out``; returns (path, curves)."""
    curves = accuracy_efficiency_curves(runs)
    if title is None:
        data = {r.config.get("data") for r in runs if r.config.get("data")}
        title = f"Accuracy/efficiency on {data.pop()}" if len(data) == 1 else None
    return save_figure(curves_figure(curves, title=title, log_x=log_x), out), curves


def training_figure(run: RunInfo):
    """Loss, error and mean op count over training (training lines of metrics.jsonl), plus the
    validation error of the evaluation lines. ``None`` if the run logged nothing."""
    log = run.training_log
    history = run.eval_history
    if not log and not history:
        return None
    fig = new_figure(9.0, 2.6)
    axes = list(fig.subplots(1, 3))
    its = [m["iteration"] for m in log]
    panels = (("loss", "Training loss"), ("error", "Error rate"), ("mean_ops", "Mean op count"))
    for ax, (key, name) in zip(axes, panels):
        values = [(i, m[key]) for i, m in zip(its, log) if isinstance(m.get(key), (int, float))]
        if values:
            ax.plot(*zip(*values), lw=1.2, color="#1f77b4", label="training batches",
                    marker="o" if len(values) < 20 else None, ms=3)
        if key in ("error", "mean_ops") and history:
            field_ = "error_rate" if key == "error" else "mean_ops"
            ax.plot([i for i, _ in history], [e[field_] for _, e in history], "o-", ms=3, lw=1.2,
                    color="#d62728", label="validation")
        ax.set_xlabel("Iteration")
        ax.set_title(name, fontsize=9)
        ax.grid(True, lw=0.4, alpha=0.5)
        if key == "mean_ops":
            ax.yaxis.set_major_formatter(lambda value, _pos: format_ops(value))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles, labels = axes[1].get_legend_handles_labels()
    fit_axes_row(fig, axes, [PANEL_SIZE] * 3, legend={"handles": handles, "labels": labels} if history else None)
    return fig
