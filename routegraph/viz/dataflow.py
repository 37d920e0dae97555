"""Dataflow node-link diagrams (paper Figs. 6 and 7), drawn with matplotlib.

One circle per classifier at its layer index (a tree for branching networks);
circle area is proportional to the fraction of test examples classified there.
``variant='accuracy'`` splits each circle into correct/incorrect wedges,
``'classes'`` into one wedge per class. Several networks (or one dynamic-k_cpt
network at several k_cpt) make stacked rows ordered by k_cpt, smallest at the
bottom. Geometry lives in :mod:`routegraph.viz.geometry`.

>>> fig = dataflow_figure(dataflow_rows(find_runs(["runs/"])), "classes")   # doctest: +SKIP
>>> save_figure(fig, "flow.svg")                                             # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..graph.compiled import CompiledGraph
from ..graph.layering import classifier_layers, has_static_layer
from ..methods import is_fixed_path
from .geometry import Glyph, check_variant, dataflow_glyphs, tree_layout
from .layout import fit_axes_row, legend_columns
from .render import new_figure
from .runs import NoRunsError, RunInfo
from .style import CORRECT_COLOR, EMPTY_COLOR, INCORRECT_COLOR, class_colors, format_k_cpt, method_display_name

MAX_RADIUS = 0.42
MIN_RADIUS = 0.07
ROW_GAP = 0.35


@dataclass
class DataflowRow:
    """One network's (or one k_cpt's) row: a graph and one evaluation of it."""

    graph: CompiledGraph
    evaluation: dict
    k_cpt: float | None
    label: str  # e.g. "Actor nets"
    class_names: list[str]
    run: str = ""
    layer_offset: int = 0  # static baselines saved without static_layer: shift to their classifier's layer


def dataflow_rows(runs: list[RunInfo], k_cpt: float | None = None) -> list[DataflowRow]:
    """Rows for ``runs`` ordered by k_cpt (every evaluation of a dynamic-k_cpt run is a row)."""
    rows: list[DataflowRow] = []
    skipped = []
    for run in runs:
        records = run.dataflow_evaluations(k_cpt)
        if not records:
            skipped.append(run.name)
            continue
        offset = _static_offset(run, runs) if is_fixed_path(run.method) else 0
        for record in records:
            k = record.get("k_cpt", run.k_cpt)
            rows.append(DataflowRow(run.graph, record, None if k is None else float(k), method_display_name(run.config),
                                    run.class_names, run.name, offset))
    if not rows:
        names = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        raise NoRunsError(f"no evaluations to draw: {names} ha{'s' if len(skipped) == 1 else 've'} no eval.json "
                          f"(run 'routegraph evaluate RUN' first)")
    rows.sort(key=lambda r: (r.k_cpt is None, r.k_cpt or 0.0, r.label, r.run))
    return rows


def _static_offset(run: RunInfo, runs: list[RunInfo]) -> int:
    """0 for a static baseline that records its layer index (``static_layer``). One saved
    before that has only its number of routing decisions, one short of the layer index for
    a classifier that shares its region with layers (the chain's last): take the index from
    a routed run of the same spec drawn with it, whose path holds the same nodes."""
    classifier = run.config.get("static_classifier")
    if has_static_layer(run.graph) or classifier not in run.graph.classifiers:
        return 0
    own = classifier_layers(run.graph)[classifier]
    nodes = {n.name for n in run.graph.nodes}
    for other in runs:
        if is_fixed_path(other.method) or other.context()["spec"] != run.context()["spec"] or not other.evaluations:
            continue
        graph = other.graph
        if classifier in graph.classifiers and set(graph.path(classifier).nodes) == nodes:
            return classifier_layers(graph)[classifier] - own
    return 0


def _row_labels(rows: list[DataflowRow]) -> list[str]:
    """k_cpt, plus the method where rows of several methods are drawn, plus the run
    where k_cpt and method alone do not tell two rows apart."""
    ks = [format_k_cpt(r.k_cpt, tex=True) if r.k_cpt is not None else "dynamic" for r in rows]
    several_methods = len({r.label for r in rows}) > 1
    out = []
    for row, k in zip(rows, ks):
        extra = [row.label] if several_methods else []
        twins = [r for r, k2 in zip(rows, ks) if k2 == k and r.label == row.label]
        if len({r.run for r in twins}) > 1:
            extra.append(row.run)
        out.append(k + ("\n" + ", ".join(extra) if extra else ""))
    return out


def _percent(fraction: float) -> str:
    if fraction >= 0.01:
        return f"{fraction:.0%}"
    return f"{fraction:.1%}" if fraction >= 0.001 else "<0.1%"


def _glyph_patches(glyph: Glyph, x: float, y: float, colors: list[str]) -> list:
    """The patches of one circle: pie wedges, then its outline (dashed if drawn at minimum size)."""
    from matplotlib.patches import Circle, Wedge

    if glyph.empty:
        return [Circle((x, y), glyph.radius * 0.6, fill=False, ls=":", lw=0.8, ec=EMPTY_COLOR)]
    patches = []
    total = sum(glyph.wedges)
    alpha = 0.6 if glyph.clamped else 1.0
    if total <= 0:
        patches.append(Circle((x, y), glyph.radius, fc=EMPTY_COLOR, ec="none", alpha=alpha))
    else:
        angle = 90.0
        for value, color in zip(glyph.wedges, colors):
            if value <= 0:
                continue
            sweep = 360.0 * value / total
            patches.append(Wedge((x, y), glyph.radius, angle - sweep, angle, fc=color, ec="white",
                                 lw=0.4 if not glyph.clamped else 0.2, alpha=alpha))
            angle -= sweep
    if glyph.clamped:
        patches.append(Circle((x, y), glyph.radius, fill=False, ls="--", lw=0.8, ec="#222222"))
    else:
        patches.append(Circle((x, y), glyph.radius, fill=False, lw=0.6, ec="#333333"))
    return patches


def dataflow_figure(rows: list[DataflowRow], variant: str = "accuracy", *, title: str | None = None,
                    max_radius: float = MAX_RADIUS, min_radius: float = MIN_RADIUS):
    """The node-link diagram of ``rows`` (a matplotlib Figure)."""
    from matplotlib.collections import PatchCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    check_variant(variant)
    if not rows:
        raise NoRunsError("no networks to draw")
    class_names = rows[0].class_names
    if variant == "classes":
        widths = {len(r.class_names) for r in rows}
        if len(widths) > 1:
            raise ConfigError("--dataflow classes: the runs have different numbers of classes "
                              f"({', '.join(map(str, sorted(widths)))}); draw them separately")
    layouts = {}
    placed = []  # (row, layout, glyphs, y of the bottom of the row's band)
    top = 0.0
    for row in rows:  # from the bottom row (smallest k_cpt) upward, as in the paper
        key = id(row.graph)
        layouts.setdefault(key, tree_layout(row.graph))
        layout = layouts[key]
        glyphs = dataflow_glyphs(row.graph, row.evaluation, variant, layout=layout,
                                 max_radius=max_radius, min_radius=min_radius)
        placed.append((row, layout, glyphs, top))
        top += layout.height + ROW_GAP
    total_height = top - ROW_GAP
    min_layer = min(g.layer + r.layer_offset for r, _, gs, _ in placed for g in gs)
    max_layer = max(g.layer + r.layer_offset for r, _, gs, _ in placed for g in gs)
    # slot s of a row (slots are counted from the top of its band) -> plot y (upward)
    def plot_y(base: float, height: float, slot: float) -> float:
        return base + (height - 1 - slot) + 0.5

    # inches per data unit (one layer, one y slot); the figure is sized around it (fit_axes_row)
    unit = 0.85 if total_height <= 12 else max(0.28, 11.0 / total_height)
    fig = new_figure(4.0, 3.0)
    ax = fig.add_subplot()
    colors = [CORRECT_COLOR, INCORRECT_COLOR] if variant == "accuracy" else class_colors(len(class_names))
    many = sum(len(gs) for _, _, gs, _ in placed) / len(placed) > 12
    labels = _row_labels([p[0] for p in placed])
    centers = []
    any_clamped = any_empty = False
    patches = []  # one collection for every circle: much faster to draw than separate artists
    for row, layout, glyphs, base in placed:
        shift = row.layer_offset
        for parent, child in layout.links:
            (x0, s0), (x1, s1) = layout.anchors[parent], layout.anchors[child]
            ax.plot([x0 + shift, x1 + shift], [plot_y(base, layout.height, s0), plot_y(base, layout.height, s1)],
                    color="#b0b0b0", lw=1.2, zorder=1, solid_capstyle="round")
        hanging = set(layout.attach.values())
        for anchor, (x, s) in layout.anchors.items():
            if anchor not in hanging:
                ax.plot([x + shift], [plot_y(base, layout.height, s)], "o", ms=3, color="#b0b0b0", zorder=2)
        for glyph in glyphs:
            x, y = glyph.x + shift, plot_y(base, layout.height, glyph.y)
            patches += _glyph_patches(glyph, x, y, colors)
            any_clamped |= glyph.clamped
            any_empty |= glyph.empty
            if not many and not glyph.empty:
                ax.text(x, y - max_radius - 0.04, _percent(glyph.fraction), ha="center", va="top", fontsize=7,
                        color="#555555")
        centers.append(base + layout.height / 2)
    ax.add_collection(PatchCollection(patches, match_original=True, zorder=3))
    xlim, ylim = (min_layer - 0.6, max_layer + 0.6), (-0.3, total_height + 0.1)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")  # circles stay round; the data area below has exactly this ratio
    ax.set_xticks(range(min_layer, max_layer + 1))
    ax.set_yticks(centers, labels)
    ax.tick_params(axis="y", length=0, labelsize=8)
    ax.set_xlabel("Layer index")
    ax.set_ylabel("$k_{cpt}$ (cost per multiply-accumulate)" if len(placed) > 1 else "")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if variant == "accuracy":
        handles = [Patch(fc=CORRECT_COLOR, label="Correct labels"), Patch(fc=INCORRECT_COLOR, label="Incorrect labels")]
    else:
        handles = [Patch(fc=c, label=name) for c, name in zip(colors, class_names)]
    threshold = (min_radius / max_radius) ** 2
    if any_clamped:
        handles.append(Line2D([], [], marker="o", ls="none", mfc="none", mec="#222222", ms=9,
                              label=f"< {threshold:.1%} of examples\n(drawn at minimum size)"))
    if any_empty:
        handles.append(Line2D([], [], marker="o", ls="none", mfc="none", mec=EMPTY_COLOR, ms=6, label="no examples"))
    if title:
        ax.set_title(title, fontsize=10)
    size = ((xlim[1] - xlim[0]) * unit, (ylim[1] - ylim[0]) * unit)
    fit_axes_row(fig, [ax], [size], legend={
        "handles": handles, "title": "area ∝ fraction of\ntest examples", "title_fontsize": 8,
        "alignment": "left", "ncols": legend_columns(len(handles), size[1] + 0.6)})
    return fig


def render_dataflow(runs: list[RunInfo], out, variant: str = "accuracy", *, k_cpt: float | None = None,
                    title: str | None = None):
    """Draw the dataflow diagram of ``runs`` to ``out`` (.svg, .png or .pdf); returns the path."""
    from .render import save_figure

    check_variant(variant)
    fig = dataflow_figure(dataflow_rows(runs, k_cpt), variant, title=title)
    return save_figure(fig, out)
