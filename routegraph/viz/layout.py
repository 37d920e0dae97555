"""Figure layout from content: the figure is sized to what it holds, never the reverse.

A figure of fixed size squeezes its axes to make room for a tall legend or long
tick labels; with one dataflow row and ten classes the axes shrank to nothing
and the legend was cut. Here each axes gets a data area of a given size in
inches, its decorations (tick labels, axis labels, title, text drawn beyond
it) are measured with a renderer, a figure legend is placed to the right in
room of its own, and the figure is made exactly large enough for all of it.

>>> fig = new_figure(1, 1); ax = fig.add_subplot()           # doctest: +SKIP
>>> fit_axes_row(fig, [ax], [(4.0, 3.0)], legend={"handles": handles})  # doctest: +SKIP
"""
from __future__ import annotations

import math

PAD = 0.08  # inches around everything
GAP = 0.35  # inches between the decorations of neighbouring axes
LEGEND_GAP = 0.15  # inches between the axes' decorations and the legend
MIN_LEGEND_ROWS = 10  # a legend column holds at least this many entries before a second one starts


def renderer_of(fig):
    """A renderer for measuring ``fig``'s artists (Agg; text extents in inches are the same in SVG and PDF)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    return canvas.get_renderer()


def legend_columns(entries: int, height: float, fontsize: float = 8.0) -> int:
    """Columns for a legend of ``entries`` so that it is about ``height`` inches tall (or
    :data:`MIN_LEGEND_ROWS` rows, if more)."""
    row = 1.7 * fontsize / 72  # one entry and its spacing, in inches
    rows = max(MIN_LEGEND_ROWS, int(height / row))
    return max(1, math.ceil(entries / rows))


def _decorations(ax, renderer, dpi: float) -> tuple[float, float, float, float]:
    """How far (inches) ``ax``'s decorations reach beyond its data area: left, right, bottom, top."""
    box = ax.get_window_extent(renderer)
    tight = ax.get_tightbbox(renderer)
    return (max(0.0, box.x0 - tight.x0) / dpi, max(0.0, tight.x1 - box.x1) / dpi,
            max(0.0, box.y0 - tight.y0) / dpi, max(0.0, tight.y1 - box.y1) / dpi)


def fit_axes_row(fig, axes: list, sizes: list[tuple[float, float]], *, legend: dict | None = None):
    """Put ``axes`` side by side, each with a data area of exactly ``sizes[i]`` (width, height)
    inches and room for its decorations; ``legend`` (keyword arguments of ``fig.legend``, e.g.
    ``handles``, ``title``) becomes a figure legend at the right, top-aligned, in space of its
    own; the figure is resized to hold everything. Returns the legend (or None)."""
    fig.set_layout_engine("none")
    renderer = renderer_of(fig)
    dpi = fig.dpi
    made = None
    if legend is not None:
        made = fig.legend(**{"loc": "upper left", "frameon": False, "fontsize": 8, **legend})
    # Two passes: the first measures at the provisional size; text extents in inches do not
    # depend on the figure size, so the second places everything where it fits.
    for _ in range(2):
        decorations = [_decorations(ax, renderer, dpi) for ax in axes]
        below = max(d[2] for d in decorations)
        above = max(h + d[3] for (_, h), d in zip(sizes, decorations))
        width = PAD
        lefts = []
        for (w, _), (left, right, _, _) in zip(sizes, decorations):
            lefts.append(width + left)
            width += left + w + right + GAP
        width -= GAP
        legend_box = made.get_window_extent(renderer) if made is not None else None
        if legend_box is not None:
            width += LEGEND_GAP
            legend_x = width
            width += legend_box.width / dpi
        width += PAD
        height = 2 * PAD + max(below + above, legend_box.height / dpi if legend_box is not None else 0.0)
        fig.set_size_inches(width, height)
        bottom = height - PAD - above  # the data areas' common bottom, the row hanging from the top
        for ax, x, (w, h) in zip(axes, lefts, sizes):
            ax.set_position([x / width, bottom / height, w / width, h / height])
        if made is not None:
            made.set_bbox_to_anchor((legend_x / width, (height - PAD) / height), transform=fig.transFigure)
    return made
