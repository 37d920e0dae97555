"""Dataflow geometry: known fractions -> known relative circle areas; layer and tree layout."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import viz_fakes
from routegraph.errors import ConfigError, RouteGraphError
from routegraph.graph import compile_spec
from routegraph.graph.layering import classifier_layers
from routegraph.viz.geometry import (
    check_variant, dataflow_glyphs, glyph_radius, tree_layout,
)
from strategies_graphs import routed_specs


def evaluation(graph, fractions, n=1000):
    return viz_fakes.synthetic_evaluation(graph, 0.0, n=n, fractions=fractions)


def test_areas_are_proportional_to_fractions(chain):
    fractions = {"exit1": 0.5, "exit2": 0.3, "exit3": 0.2}
    glyphs = {g.classifier: g for g in dataflow_glyphs(chain, evaluation(chain, fractions), max_radius=0.4, min_radius=0.01)}
    area = {c: math.pi * g.radius ** 2 for c, g in glyphs.items()}
    assert area["exit1"] / area["exit2"] == pytest.approx(0.5 / 0.3)
    assert area["exit2"] / area["exit3"] == pytest.approx(0.3 / 0.2)
    assert glyphs["exit1"].radius == pytest.approx(0.4 * math.sqrt(0.5))
    assert not any(g.clamped or g.empty for g in glyphs.values())


def test_whole_dataset_at_one_classifier_fills_the_maximum(chain):
    glyphs = dataflow_glyphs(chain, evaluation(chain, {"exit1": 1.0}), max_radius=0.42, min_radius=0.07)
    first, *rest = glyphs
    assert first.radius == pytest.approx(0.42) and first.fraction == 1.0
    assert all(g.empty and g.fraction == 0 for g in rest)


def test_tiny_fractions_get_the_minimum_size_and_are_flagged(chain):
    fractions = {"exit1": 0.995, "exit2": 0.004, "exit3": 0.001}
    glyphs = {g.classifier: g for g in dataflow_glyphs(chain, evaluation(chain, fractions), max_radius=0.4, min_radius=0.05)}
    assert glyphs["exit2"].clamped and glyphs["exit3"].clamped
    assert glyphs["exit2"].radius == glyphs["exit3"].radius == 0.05
    assert not glyphs["exit1"].clamped
    # the threshold: a fraction of exactly (min/max)^2 is drawn at its true size
    radius, clamped = glyph_radius((0.05 / 0.4) ** 2, 0.4, 0.05)
    assert radius == pytest.approx(0.05) and not clamped


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=3, max_size=3))
def test_area_ratios_for_any_fractions(counts):
    graph = viz_fakes.chain_graph()
    total = sum(counts)
    fractions = {c: k / total for c, k in zip(graph.classifiers, counts)}
    glyphs = dataflow_glyphs(graph, evaluation(graph, fractions, n=total), max_radius=1.0, min_radius=1e-9)
    for a in glyphs:
        for b in glyphs:
            assert a.radius ** 2 / b.radius ** 2 == pytest.approx(a.fraction / b.fraction, rel=1e-9)


def test_accuracy_and_class_wedges(chain):
    record = evaluation(chain, {"exit1": 0.6, "exit2": 0.4})
    glyph = dataflow_glyphs(chain, record, "accuracy")[0]
    stats = record["classifiers"]["exit1"]
    assert glyph.wedges == (sum(stats["correct_by_class"]), sum(stats["incorrect_by_class"]))
    assert glyph.wedges[0] / sum(glyph.wedges) == pytest.approx(stats["accuracy"])
    glyph = dataflow_glyphs(chain, record, "classes")[0]
    assert len(glyph.wedges) == chain.num_classes
    assert glyph.wedges == tuple(float(c + i) for c, i in zip(stats["correct_by_class"], stats["incorrect_by_class"]))


def test_unknown_variant_names_the_known_ones(chain):
    with pytest.raises(ConfigError, match=r"unknown dataflow variant 'acuracy'; did you mean 'accuracy'\?"):
        check_variant("acuracy")
    with pytest.raises(RouteGraphError):
        dataflow_glyphs(chain, evaluation(chain, {"exit1": 1.0}), "pie")


def test_evaluation_of_another_network_is_refused(chain, tree):
    with pytest.raises(ConfigError, match="no statistics for this network"):
        dataflow_glyphs(chain, evaluation(tree, {"l1.exit": 1.0}))


def test_chain_layout_is_a_line_of_layers(chain):
    layout = tree_layout(chain)
    assert classifier_layers(chain) == {"exit1": 1, "exit2": 2, "exit3": 3}
    assert {y for _, y in layout.positions.values()} == {0.0}
    assert layout.height == 1 and len(layout.links) == 2


def test_tree_layout(tree):
    layout = tree_layout(tree)
    layers = classifier_layers(tree)
    assert layers == {"l1.exit": 1, "a.l2.exit": 2, "a.l3.exit": 3, "b.l2.exit": 2, "b.l3.exit": 3}
    pos = layout.positions
    # leaves in distinct slots, each branch a straight line, the root between its branches
    assert pos["a.l3.exit"][1] != pos["b.l3.exit"][1]
    assert pos["a.l2.exit"][1] == pos["a.l3.exit"][1]
    assert pos["l1.exit"][1] == pytest.approx((pos["a.l2.exit"][1] + pos["b.l2.exit"][1]) / 2)
    assert layout.height == 2
    for parent, child in layout.links:
        assert layout.anchors[child][0] == layout.anchors[parent][0] + 1


def test_reference_chain_layers():
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2] / "specs" / "chain_8layer.yaml"
    if not spec.exists():
        pytest.skip("specs/chain_8layer.yaml not present")
    from routegraph.spec import load_spec

    graph = compile_spec(load_spec(spec))
    assert list(classifier_layers(graph).values()) == list(range(1, 9))


@settings(max_examples=40, deadline=None)
@given(spec=routed_specs())
def test_layout_of_random_graphs(spec):
    graph = compile_spec(spec)
    layout = tree_layout(graph)
    assert set(layout.positions) == set(graph.classifiers)
    # classifiers never overlap: distinct positions (their circles have radius < 0.5)
    points = list(layout.positions.values())
    for i, a in enumerate(points):
        for b in points[i + 1:]:
            assert (a[0], a[1]) != (b[0], b[1])
    for parent, child in layout.links:
        assert layout.anchors[child][0] > layout.anchors[parent][0]
