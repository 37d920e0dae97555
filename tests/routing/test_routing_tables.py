"""RegionTables: tables agree with the graph; malformed trees are rejected."""
import dataclasses

import pytest
import torch
from hypothesis import given, settings
from strategies_regions import graph_from_nested, region_trees

from routegraph.routing import RegionTables, path_ops

SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(region_trees())
def test_plan_tables_agree_with_graph(graph):
    plan = RegionTables(graph)
    assert plan.num_regions == len(graph.regions)
    assert plan.classifiers == graph.classifiers
    assert [int(r) for r in plan.leaf_regions] == [p.region for p in graph.paths]
    assert path_ops(plan).tolist() == [float(p.ops) for p in graph.paths]
    for r in range(plan.num_regions):
        below = torch.nonzero(plan.subtree[r]).flatten().tolist()
        assert tuple(below) == graph.subtree_regions(r)
        assert plan.leaf_fraction[r] * graph.regions[0].leaves == graph.regions[r].leaves
    for k, j in enumerate(graph.junctions):
        assert int(plan.junction_region[k]) == j.region
        assert plan.junction_sink_regions[k].tolist() == list(j.sink_regions)


def test_single_region_graph():
    plan = RegionTables(graph_from_nested([], node_ops=[7]))
    assert plan.num_regions == 1 and plan.num_junctions == 0 and plan.num_leaves == 1
    assert path_ops(plan).tolist() == [7.0]
    assert plan.ancestor_columns.shape == (1, 0)


def test_large_ops_are_exact():
    ops = [10**9 + 1, 10**9 + 3, 3 * 10**9 + 7]
    plan = RegionTables(graph_from_nested([[], []], node_ops=ops, router_ops=[5, 0, 0]))
    assert path_ops(plan).tolist() == [float(10**9 + 1 + 5 + 10**9 + 3), float(10**9 + 1 + 5 + 3 * 10**9 + 7)]


def test_to_device_copies_tensors():
    plan = RegionTables(graph_from_nested([[], [[], []]]))
    moved = plan.to("cpu")
    assert moved.graph is plan.graph and torch.equal(moved.ops_to_leaf, plan.ops_to_leaf)


def _replace_region(graph, r, **changes):
    regions = list(graph.regions)
    regions[r] = dataclasses.replace(regions[r], **changes)
    return dataclasses.replace(graph, regions=tuple(regions))


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda g: _replace_region(g, 1, leaves=2), "leaves"),
        (lambda g: _replace_region(g, 2, children=(4, 3)), "children"),
        (lambda g: _replace_region(g, 3, parent=("junction2", 1)), "parent"),
        (lambda g: _replace_region(g, 0, ops=1), "ops"),
        (lambda g: dataclasses.replace(g, paths=g.paths[:-1]), "path"),
    ],
)
def test_malformed_graphs_are_rejected(breakage, message):
    graph = graph_from_nested([[], [[], []]])
    RegionTables(graph)
    with pytest.raises(ValueError, match=message):
        RegionTables(breakage(graph))
