"""Figures: dataflow diagrams, accuracy/efficiency curves, dataflow over training."""
import pytest

import viz_fakes
from routegraph.viz.curves import X_LABEL, Y_LABEL, accuracy_efficiency_curves, curves_figure, plot_curves, training_figure
from routegraph.viz.dataflow import dataflow_figure, dataflow_rows, render_dataflow
from routegraph.viz.heatmap import over_training_figure, plot_over_training, training_dataflow
from routegraph.viz.runs import NoRunsError, find_runs, load_run_info


def legend_texts(fig):
    return [t.get_text() for t in viz_fakes.figure_legend(fig).get_texts()]


def curve_lines(fig):
    ax = fig.axes[0]
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


# ---------------------------------------------------------------- accuracy/efficiency
def test_one_curve_per_method(experiment, tmp_path):
    runs = find_runs([experiment])
    curves = accuracy_efficiency_curves(runs)
    assert [(c.label, c.kind, len(c.points)) for c in curves] == [
        ("Statically-routed nets", "static", 3),
        ("Actor nets", "routed", 3),
        ("Pragmatic critic nets", "routed", 2),
        ("Actor net, dynamic k_cpt", "dynamic", 6),
    ]
    for curve in curves:
        xs = [p.mean_ops for p in curve.points]
        assert xs == sorted(xs)
    assert len({c.color for c in curves}) == 4
    fig = curves_figure(curves)
    ax = fig.axes[0]
    assert ax.get_xlabel() == X_LABEL and ax.get_ylabel() == Y_LABEL
    assert [line.get_label() for line in curve_lines(fig)] == [c.label for c in curves]
    assert legend_texts(fig) == [c.label for c in curves]
    path, _ = plot_curves(runs, tmp_path / "curves.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_static_points_are_the_runs(experiment):
    static = accuracy_efficiency_curves(find_runs([str(experiment / "sr-*")]))[0]
    evaluated = {r.name: r.evaluation() for r in find_runs([str(experiment / "sr-*")])}
    assert {(p.run, p.mean_ops, p.error_rate) for p in static.points} == {
        (name, e["mean_ops"], e["error_rate"]) for name, e in evaluated.items()}


def test_contexts_and_custom_labels_split_curves(tmp_path, chain, tree):
    viz_fakes.make_run(tmp_path, "a1", chain, k_cpt=1e-9)
    viz_fakes.make_run(tmp_path, "a2", chain, k_cpt=4e-9)
    viz_fakes.make_run(tmp_path, "w2", chain, k_cpt=1e-9, spec_params={"width": 2})
    viz_fakes.make_run(tmp_path, "t1", tree, k_cpt=1e-9, spec="specs/branching_3way.yaml")
    viz_fakes.make_run(tmp_path, "x1", chain, k_cpt=1e-9, label="actor, no TALR")
    curves = accuracy_efficiency_curves(find_runs([tmp_path]))
    labels = sorted(c.label for c in curves)
    assert labels == ["Actor nets (branching_3way)", "Actor nets (tiny_chain)", "Actor nets (tiny_chain; width=2)",
                      "actor, no TALR (tiny_chain)"]
    assert {c.label: len(c.points) for c in curves}["Actor nets (tiny_chain)"] == 2


def test_two_dynamic_runs_are_two_curves(tmp_path, chain):
    viz_fakes.make_run(tmp_path, "d1", chain, k_cpt=None, dynamic=True, seed=1)
    viz_fakes.make_run(tmp_path, "d2", chain, k_cpt=None, dynamic=True, seed=2)
    curves = accuracy_efficiency_curves(find_runs([tmp_path]))
    assert sorted(c.label for c in curves) == ["Actor net, dynamic k_cpt [d1]", "Actor net, dynamic k_cpt [d2]"]


def test_runs_without_evaluations(tmp_path, chain):
    viz_fakes.make_run(tmp_path, "u", chain, with_eval=False)
    with pytest.raises(NoRunsError, match="routegraph evaluate"):
        accuracy_efficiency_curves(find_runs([tmp_path]))
    viz_fakes.make_run(tmp_path, "e", chain)
    assert [c.runs for c in accuracy_efficiency_curves(find_runs([tmp_path]))] == [["e"]]


def test_finding_dozens_of_runs_reads_only_their_config_and_eval(tmp_path, chain, monkeypatch):
    """Listing runs must not read metrics or checkpoints (what made it slow); counted, not timed."""
    import builtins
    import io as stdlib_io
    from pathlib import Path

    for i in range(40):
        viz_fakes.make_run(tmp_path, f"ac-{i}", chain, k_cpt=i * 1e-10)
        (tmp_path / f"ac-{i}" / "checkpoint.pt").write_bytes(b"not read")
    opened = []
    real_open, real_io_open = builtins.open, stdlib_io.open

    def counting(opener):
        def wrapped(file, *args, **kwargs):
            opened.append(Path(file).name if isinstance(file, (str, Path)) else str(file))
            return opener(file, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(builtins, "open", counting(real_open))
    monkeypatch.setattr(stdlib_io, "open", counting(real_io_open))
    runs = find_runs([tmp_path])
    monkeypatch.undo()
    read = {name for name in opened if not name.isdigit()}
    assert "config.json" in read  # the counting sees the reads
    assert read <= {"config.json", "eval.json", "compiled.json"}, read
    assert "metrics.jsonl" not in read and "checkpoint.pt" not in read
    _, curves = plot_curves(runs, tmp_path / "c.svg")
    assert len(curves) == 1 and len(curves[0].points) == 40


def test_training_figure(experiment):
    run = load_run_info(experiment / "ac-2e-09")
    fig = training_figure(run)
    assert [ax.get_xlabel() for ax in fig.axes] == ["Iteration"] * 3
    assert training_figure(load_run_info(viz_fakes.make_run(experiment.parent, "quiet", viz_fakes.chain_graph(),
                                                            metrics=False))) is None


# ---------------------------------------------------------------- dataflow
def test_rows_ordered_by_k_cpt(experiment):
    rows = dataflow_rows(find_runs([str(experiment / "ac-*"), str(experiment / "cr-*")]))
    ks = [r.k_cpt for r in rows]
    assert ks == sorted(ks)
    assert len(rows) == 3 + 2 + 6  # a dynamic-k_cpt run gives one row per k_cpt


def test_dataflow_figures(experiment, tmp_path):
    runs = find_runs([str(experiment / "ac-*")])
    for variant in ("accuracy", "classes"):
        fig = dataflow_figure(dataflow_rows(runs), variant)
        ax = fig.axes[0]
        assert ax.get_xlabel() == "Layer index" and "k_{cpt}" in ax.get_ylabel()
        legend = legend_texts(fig)
        if variant == "accuracy":
            assert legend[:2] == ["Correct labels", "Incorrect labels"]
        else:
            assert legend[:4] == ["class0", "class1", "class2", "class3"]
        assert len(ax.get_yticklabels()) == len(dataflow_rows(runs))
    path = render_dataflow(runs, tmp_path / "flow.svg", "classes")
    assert b"<svg" in path.read_bytes()[:400]


def test_tiny_fractions_get_a_legend_entry(tmp_path, chain):
    fractions = {"exit1": 0.998, "exit2": 0.002, "exit3": 0.0}
    record = viz_fakes.synthetic_evaluation(chain, 1e-8, fractions=fractions)
    run = load_run_info(viz_fakes.make_run(tmp_path, "r", chain, k_cpt=1e-8, evaluations=[record]))
    legend = legend_texts(dataflow_figure(dataflow_rows([run])))
    assert any("drawn at minimum size" in t for t in legend) and "no examples" in legend


def drawn_layers(rows):
    """Where each row's circles are drawn (x): the glyph's layer plus the row's shift."""
    from routegraph.viz.geometry import dataflow_glyphs

    return {r.run: [g.layer + r.layer_offset for g in dataflow_glyphs(r.graph, r.evaluation)] for r in rows}


@pytest.mark.parametrize("with_routed", [True, False])
def test_static_baselines_sit_at_their_layer(tmp_path, with_routed):
    """A static baseline's one circle is at the layer its classifier has in the routed network,
    with or without a routed run drawn beside it; the chain's last classifier (as many routing
    decisions as the one before it) included."""
    from routegraph.graph.layering import classifier_layers

    chain = viz_fakes.chain_graph(depth=4)
    for i, c in enumerate(chain.classifiers):
        viz_fakes.make_run(tmp_path, f"sr-{i + 1}", chain, method="static", k_cpt=0.0, static_classifier=c)
    if with_routed:
        viz_fakes.make_run(tmp_path, "ac", chain, k_cpt=2e-9)
    drawn = drawn_layers(dataflow_rows(find_runs([tmp_path])))
    layers = classifier_layers(chain)
    assert [drawn[f"sr-{i + 1}"] for i in range(4)] == [[layers[c]] for c in chain.classifiers] == [[1], [2], [3], [4]]


def test_static_baselines_saved_before_static_layer(tmp_path):
    """Old static runs (static_depth = routing decisions, no static_layer) still render; a routed
    run of the same spec drawn with them puts even the last classifier at its layer."""
    chain = viz_fakes.chain_graph(depth=4)
    for i, c in enumerate(chain.classifiers):
        viz_fakes.make_run(tmp_path, f"sr-{i + 1}", chain, method="static", k_cpt=0.0, static_classifier=c,
                           legacy_static=True)
    alone = drawn_layers(dataflow_rows(find_runs([tmp_path])))
    assert [alone[f"sr-{i}"] for i in (1, 2, 3, 4)] == [[1], [2], [3], [3]]  # the old count, one short at the end
    viz_fakes.make_run(tmp_path, "ac", chain, k_cpt=2e-9)
    drawn = drawn_layers(dataflow_rows(find_runs([tmp_path])))
    assert [drawn[f"sr-{i}"] for i in (1, 2, 3, 4)] == [[1], [2], [3], [4]]


def test_saved_result_runs_still_render(tmp_path):
    """docs/results/runs holds runs saved before static_layer: they load and draw, each
    static baseline sr-exitN at layer N."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "docs" / "results" / "runs" / "cifar10-small-gpu"
    if not folder.is_dir():
        pytest.skip("docs/results/runs not present")
    runs = find_runs([folder])
    drawn = drawn_layers(dataflow_rows(runs))
    static = {name: layers for name, layers in drawn.items() if name.startswith("sr-exit")}
    assert len(static) == 8
    assert all(layers == [int(name.split("-")[1][4:])] for name, layers in static.items())
    assert render_dataflow(runs, tmp_path / "flow.png", "classes").stat().st_size > 0


def test_dataflow_of_unevaluated_runs(tmp_path, chain):
    viz_fakes.make_run(tmp_path, "u", chain, with_eval=False)
    with pytest.raises(NoRunsError, match="no eval.json"):
        dataflow_rows(find_runs([tmp_path]))


# ---------------------------------------------------------------- over training
def test_training_dataflow_matrix(experiment):
    run = load_run_info(experiment / "ac-8e-09")
    data = training_dataflow(run)
    assert data.iterations == [100, 200, 300, 400]
    assert data.classifiers == ["exit1", "exit2", "exit3"] and data.layers == [1, 2, 3]
    for row, (_, record) in zip(data.fractions, run.eval_history):
        assert row == [record["classifiers"][c]["fraction"] for c in data.classifiers]
        assert sum(row) == pytest.approx(1.0, abs=0.01)


def test_over_training_figure(experiment, tmp_path):
    runs = find_runs([str(experiment / "ac-*")])
    fig = over_training_figure(runs)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel()]
    assert len(panels) == 4  # three fixed k_cpt runs and the dynamic one
    assert panels[0].get_ylabel() == "Training iteration" and panels[0].get_xlabel() == "Layer index"
    assert any(ax.get_ylabel() == "Fraction of validation images" for ax in fig.axes)  # the colour bar
    path = plot_over_training(runs, tmp_path / "heat.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_over_training_without_evaluation_lines(tmp_path, chain):
    viz_fakes.make_run(tmp_path, "r", chain, metrics=False)
    with pytest.raises(NoRunsError, match="--eval-every"):
        over_training_figure(find_runs([tmp_path]))
