"""Layer index of a classifier: from the compiled graph's regions, not from its routing decisions."""
from pathlib import Path

import pytest

from routegraph.graph import CompiledGraph, compile_spec, static_baseline
from routegraph.graph.layering import STATIC_LAYER, classifier_layers, has_static_layer
from routegraph.spec import load_spec

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))
_GRAPHS: dict[str, CompiledGraph] = {}


def graph_of(spec: Path) -> CompiledGraph:
    if spec.name not in _GRAPHS:
        _GRAPHS[spec.name] = compile_spec(load_spec(spec))
    return _GRAPHS[spec.name]


def bearing_regions_on_path(graph: CompiledGraph, classifier: str) -> int:
    """Oracle: the regions of the path table that own a non-classifier node, read from the
    nodes' own region field (not from the region tree the implementation walks)."""
    bearing = {n.region for n in graph.nodes if n.kind != "classifier"}
    return sum(1 for region in graph.path(classifier).regions if region in bearing)


CASES = [(spec, c) for spec in SPECS for c in graph_of(spec).classifiers]


def test_every_spec_is_covered():
    assert {s.stem for s in SPECS} >= {"chain_8layer", "tiny_chain", "tiny_tree", "branching_3way"}


@pytest.mark.parametrize("spec, classifier", CASES, ids=[f"{s.stem}:{c}" for s, c in CASES])
def test_layer_index_counts_layer_bearing_regions(spec, classifier):
    graph = graph_of(spec)
    expected = bearing_regions_on_path(graph, classifier)
    assert classifier_layers(graph)[classifier] == expected
    # the static baseline keeps the index its classifier has in the routed network
    static = static_baseline(graph, classifier)
    assert static.params[STATIC_LAYER] == expected and has_static_layer(static)
    assert classifier_layers(static) == {classifier: expected}
    assert classifier_layers(CompiledGraph.from_json(static.to_json())) == {classifier: expected}  # compiled.json


@pytest.mark.parametrize("stem", ["chain_8layer", "tiny_chain", "branching_3way"])
def test_chain_classifier_after_layer_n_is_at_n(stem):
    """Second oracle on the chains: 'l<n>.exit' is the classifier after layer n (the name says n).
    The last one shares its region with layer n and has as many routing decisions as the one
    before it (l7.exit and l8.exit: 7 each), which is why decisions are not a layer index."""
    graph = graph_of(next(s for s in SPECS if s.stem == stem))
    layers = classifier_layers(graph)
    for classifier in graph.classifiers:
        assert layers[classifier] == int(classifier.rsplit("l", 1)[1].split(".")[0])
    deepest = max(graph.classifiers, key=layers.get)
    before = [c for c in graph.classifiers if layers[c] == layers[deepest] - 1 and  # its sibling at the last junction
              graph.path(c).decisions[:-1] == graph.path(deepest).decisions[:-1]]
    assert before and len(graph.path(before[0]).decisions) == len(graph.path(deepest).decisions)


def test_static_layers_of_tiny_chain_differ():
    graph = graph_of(next(s for s in SPECS if s.stem == "tiny_chain"))
    assert [static_baseline(graph, c).params[STATIC_LAYER] for c in graph.classifiers] == [1, 2, 3]


def test_baselines_saved_before_static_layer_use_their_decision_count():
    """compiled.json of an old static run holds static_depth (the number of routing decisions)
    and no static_layer: still readable, with that count as the layer."""
    graph = graph_of(next(s for s in SPECS if s.stem == "chain_8layer"))
    data = static_baseline(graph, "l5.exit").to_json()
    data["params"] = {k: v for k, v in data["params"].items() if k != STATIC_LAYER} | {"static_depth": 5}
    old = CompiledGraph.from_json(data)
    assert classifier_layers(old) == {"l5.exit": 5} and not has_static_layer(old)
    # a routed graph that happens to have a parameter of that name is not a baseline
    assert classifier_layers(graph)["l1.exit"] == 1
