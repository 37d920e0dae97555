"""Pragmatic and optimistic utility targets."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_regions import (
    brute_utility_targets,
    graph_from_nested,
    random_scores,
    routing_cases,
    with_region_ops,
)

from routegraph.routing import TARGET_KINDS, RegionTables, inference_policy, utility_targets

SETTINGS = settings(max_examples=40, deadline=None)
kinds = st.sampled_from(TARGET_KINDS)


@SETTINGS
@given(routing_cases(), kinds)
def test_targets_equal_brute_force(case, kind):
    plan = RegionTables(case.graph)
    decisions = inference_policy(case.scores)
    u = utility_targets(plan, case.leaf_err, case.k_cpt, kind, decisions)
    expected = brute_utility_targets(case.graph, case.leaf_err, case.k_cpt, kind, decisions)
    assert u.keys() == expected.keys()
    for name in u:
        torch.testing.assert_close(u[name], expected[name], rtol=1e-12, atol=1e-15)


@SETTINGS
@given(routing_cases())
def test_optimistic_is_never_below_pragmatic(case):
    plan = RegionTables(case.graph)
    decisions = inference_policy(case.scores)
    pragmatic = utility_targets(plan, case.leaf_err, case.k_cpt, "pragmatic", decisions)
    optimistic = utility_targets(plan, case.leaf_err, case.k_cpt, "optimistic")
    for name in pragmatic:
        assert torch.all(optimistic[name] >= pragmatic[name])


@SETTINGS
@given(routing_cases(), kinds)
def test_zero_k_cpt_targets_are_leaf_errors(case, kind):
    plan = RegionTables(case.graph)
    decisions = inference_policy(case.scores)
    u = utility_targets(plan, case.leaf_err, 0.0, kind, decisions)
    errors = {float(e) for e in case.leaf_err.flatten()}
    for name in u:
        assert all(-float(v) in errors for v in u[name].flatten())


@SETTINGS
@given(routing_cases(), kinds, st.data())
def test_targets_depend_only_on_the_subtree_below_the_sink(case, kind, data):
    """Perturb every leaf error, region op count and router score outside the subtree
    below one sink: that sink's target must not change (bit for bit)."""
    graph = case.graph
    if not graph.junctions:
        return
    junction = data.draw(st.sampled_from(graph.junctions))
    sink = data.draw(st.integers(0, len(junction.sink_regions) - 1))
    inside = set(graph.subtree_regions(junction.sink_regions[sink]))
    gen = case.generator()

    outside_leaves = [k for k, p in enumerate(graph.paths) if p.region not in inside]
    leaf_err = case.leaf_err.clone()
    noise = torch.rand(case.batch, len(outside_leaves), generator=gen, dtype=torch.float64)
    leaf_err[:, outside_leaves] = 9 * noise
    outside = [r for r in range(len(graph.regions)) if r not in inside]
    new_ops = {r: int(torch.randint(0, 10**9, (), generator=gen)) for r in outside}
    perturbed_graph = with_region_ops(graph, new_ops)
    fresh = random_scores(graph, case.batch, gen, scale=10.0)
    scores = {j.name: (case.scores[j.name] if j.region in inside else fresh[j.name]) for j in graph.junctions}

    before = utility_targets(RegionTables(graph), case.leaf_err, case.k_cpt, kind, inference_policy(case.scores))
    after = utility_targets(RegionTables(perturbed_graph), leaf_err, case.k_cpt, kind, inference_policy(scores))
    assert torch.equal(before[junction.name][:, sink], after[junction.name][:, sink])


def test_targets_of_a_two_leaf_junction():
    graph = graph_from_nested([[], []], node_ops=[100, 10, 1000], router_ops=[7, 0, 0])
    plan = RegionTables(graph)
    err = torch.tensor([[0.5, 0.25]], dtype=torch.float64)
    for kind in TARGET_KINDS:
        u = utility_targets(plan, err, 1e-3, kind, {"junction0": torch.tensor([1])})
        expected = torch.tensor([[-(0.5 + 0.01), -(0.25 + 1.0)]], dtype=torch.float64)
        torch.testing.assert_close(u["junction0"], expected)
