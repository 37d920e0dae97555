"""Figures are laid out from their content: for any number of rows, classes, curves or panels,
the axes keep their size, nothing is drawn outside the saved figure, the legend has room of its
own, and tick labels do not print over each other. Checked on the drawn artists' extents."""
import io

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import viz_fakes
from routegraph.viz.curves import accuracy_efficiency_curves, curves_figure, training_figure
from routegraph.viz.dataflow import DataflowRow, dataflow_figure
from routegraph.viz.heatmap import over_training_figure
from routegraph.viz.render import figure_bytes
from routegraph.viz.runs import find_runs, load_run_info

TOLERANCE = 1.0  # pixels


def drawn(fig):
    """Draw ``fig`` as it is saved; return its renderer and its bounding box (pixels)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer(), fig.bbox


def inside(box, outer) -> bool:
    return (box.x0 >= outer.x0 - TOLERANCE and box.y0 >= outer.y0 - TOLERANCE
            and box.x1 <= outer.x1 + TOLERANCE and box.y1 <= outer.y1 + TOLERANCE)


def overlap(a, b) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE and min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE


def check_layout(fig, *, min_axes=(1.0, 0.6)):
    """The layout rules, on the drawn figure (see the module docstring)."""
    renderer, bounds = drawn(fig)
    dpi = fig.dpi
    plots = [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel()]  # not the colour bar
    assert plots
    for ax in plots:
        box = ax.get_window_extent(renderer)
        assert box.width / dpi >= min_axes[0] and box.height / dpi >= min_axes[1], \
            f"axes squeezed to {box.width / dpi:.2f} x {box.height / dpi:.2f} in"
        assert inside(ax.get_tightbbox(renderer), bounds), "axes decorations cut off"
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = (high - low) * 1e-9
            ticks = [t for t, loc in zip(axis.get_ticklabels(), axis.get_ticklocs())  # those drawn
                     if low - span <= loc <= high + span and t.get_visible() and t.get_text()]
            boxes = [t.get_window_extent(renderer) for t in ticks]
            for i, a in enumerate(boxes):
                assert inside(a, bounds)
                assert not any(overlap(a, b) for b in boxes[i + 1:]), "tick labels print over each other"
        # texts drawn in the axes (percentages under the circles, k_cpt annotations)
        for text in ax.texts:
            assert inside(text.get_window_extent(renderer), bounds)
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert inside(box, bounds), f"legend {box} cut off by the figure {bounds}"
        for ax in plots:  # in room of its own, over no data
            assert not overlap(box, ax.get_window_extent(renderer)), "legend drawn over the axes"
    # the saved file is the figure: nothing cut at saving either
    import matplotlib.image

    image = matplotlib.image.imread(io.BytesIO(figure_bytes(fig, "png", dpi=50)))
    w, h = fig.get_size_inches() * 50
    assert abs(image.shape[1] - w) <= 2 and abs(image.shape[0] - h) <= 2
    return renderer


# ---------------------------------------------------------------- dataflow
def dataflow_rows(n_rows: int, classes: int, graph=None) -> list[DataflowRow]:
    graph = graph or viz_fakes.chain_graph(depth=8, classes=classes)
    names = [f"class name {i}" for i in range(classes)]
    return [DataflowRow(graph, viz_fakes.synthetic_evaluation(graph, k, num_classes=classes), k, "Actor nets", names,
                        f"run{i}") for i, k in enumerate(1e-9 * (2 ** i) for i in range(n_rows))]


@pytest.mark.parametrize("classes", [2, 10, 47])
@pytest.mark.parametrize("n_rows", [1, 2, 6])
@pytest.mark.parametrize("variant", ["classes", "accuracy"])
def test_dataflow_layout(n_rows, classes, variant):
    rows = dataflow_rows(n_rows, classes)
    fig = dataflow_figure(rows, variant)
    renderer = check_layout(fig)
    ax = fig.axes[0]
    # every row has at least the height of a circle: the axes did not shrink with the legend
    assert ax.get_window_extent(renderer).height / fig.dpi >= 0.8 * n_rows
    legend = viz_fakes.figure_legend(fig)
    entries = [t.get_text() for t in legend.get_texts()]
    if variant == "classes":
        assert entries[:classes] == rows[0].class_names  # every class, none cut after the 7th
    # the percentages under the circles do not print over each other
    labels = [t.get_window_extent(renderer) for t in ax.texts]
    for i, a in enumerate(labels):
        assert not any(overlap(a, b) for b in labels[i + 1:])


def test_dataflow_of_a_tree_layout(tree):
    rows = dataflow_rows(3, tree.num_classes, graph=tree)
    check_layout(dataflow_figure(rows, "classes"))


def test_dataflow_title_and_long_row_labels(chain):
    rows = dataflow_rows(2, 4, graph=chain)
    for row in rows:
        row.label = "a method with a rather long name"
    rows[1].label = "another method"
    check_layout(dataflow_figure(rows, "accuracy", title="A title longer than the plot is wide, " * 3))


# ---------------------------------------------------------------- curves
@pytest.mark.parametrize("n_curves", [1, 4, 14])
def test_curves_layout(tmp_path, chain, n_curves):
    for i in range(n_curves):
        viz_fakes.make_run(tmp_path, f"r{i}", chain, k_cpt=1e-9 * (i + 1),
                           label=f"actor variant {i} with a long descriptive label" if n_curves > 1 else None)
    curves = accuracy_efficiency_curves(find_runs([tmp_path]))
    assert len({c.color for c in curves}) == n_curves  # colours do not run out (14 curves raised StopIteration)
    fig = curves_figure(curves, title="Accuracy/efficiency")
    check_layout(fig, min_axes=(4.0, 2.5))
    assert len(viz_fakes.figure_legend(fig).get_texts()) == n_curves


def test_training_figure_layout(experiment):
    fig = training_figure(load_run_info(experiment / "ac-2e-09"))
    check_layout(fig)
    assert [t.get_text() for t in viz_fakes.figure_legend(fig).get_texts()] == ["training batches", "validation"]


# ---------------------------------------------------------------- over training (a colour bar, no legend)
@pytest.mark.parametrize("n_panels, depth", [(1, 3), (3, 12), (6, 3)])
def test_over_training_layout(tmp_path, n_panels, depth):
    graph = viz_fakes.chain_graph(depth=depth)
    for i in range(n_panels):
        viz_fakes.make_run(tmp_path, f"ac-{i}", graph, k_cpt=1e-9 * (i + 1), with_eval=False)
    check_layout(over_training_figure(find_runs([tmp_path])))
