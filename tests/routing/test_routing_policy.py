"""Training/inference policies, region probabilities and routed leaves."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_regions import (
    brute_path_probability,
    brute_routed_leaf,
    brute_walk,
    graph_from_nested,
    routing_cases,
)

from routegraph.errors import ConfigError
from routegraph.routing import (
    FLOORS,
    RegionTables,
    inference_policy,
    leaf_region_below,
    one_hot_probs,
    region_probabilities,
    routed_leaf,
    training_policy,
)

SETTINGS = settings(max_examples=40, deadline=None)
floors = st.sampled_from(FLOORS)


@SETTINGS
@given(routing_cases(), floors)
def test_leaf_probabilities_sum_to_one(case, floor):
    plan = RegionTables(case.graph)
    pi = training_policy(plan, case.scores, case.tau, case.eps, floor)
    for name, probs in pi.items():
        torch.testing.assert_close(probs.sum(-1), torch.ones(case.batch, dtype=torch.float64))
    p = region_probabilities(plan, pi)
    leaf_total = p[:, plan.leaf_regions].sum(-1).expand(case.batch)
    torch.testing.assert_close(leaf_total, torch.ones(case.batch, dtype=torch.float64), check_dtype=False)
    assert torch.all(p[:, 0] == 1)


@SETTINGS
@given(routing_cases(), floors)
def test_every_sink_gets_its_floor(case, floor):
    plan = RegionTables(case.graph)
    pi = training_policy(plan, case.scores, case.tau, case.eps, floor)
    for k, j in enumerate(case.graph.junctions):
        sink_floor = case.eps * plan.leaf_fraction[plan.junction_sink_regions[k]]
        assert torch.all(pi[j.name] >= sink_floor * (1 - 1e-12)), (pi[j.name], sink_floor)


@SETTINGS
@given(routing_cases())
def test_absolute_floor_bounds_every_region(case):
    """The reference code's floor: p(r) >= eps * leaves(r) / leaves(root) at any depth."""
    plan = RegionTables(case.graph)
    p = region_probabilities(plan, training_policy(plan, case.scores, case.tau, case.eps, "absolute"))
    assert torch.all(p >= case.eps * plan.leaf_fraction * (1 - 1e-12))


@SETTINGS
@given(routing_cases())
def test_conditional_floor_is_the_junction_formula(case):
    plan = RegionTables(case.graph)
    pi = training_policy(plan, case.scores, case.tau, case.eps, "conditional")
    fraction = {r.id: r.leaves / case.graph.regions[0].leaves for r in case.graph.regions}
    for j in case.graph.junctions:
        softmax = torch.softmax(case.scores[j.name] / case.tau, -1)
        sink_floor = torch.tensor([case.eps * fraction[s] for s in j.sink_regions], dtype=torch.float64)
        expected = softmax * (1 - case.eps * fraction[j.region]) + sink_floor
        torch.testing.assert_close(pi[j.name], expected)


@SETTINGS
@given(routing_cases())
def test_floors_agree_at_the_root_junction(case):
    plan = RegionTables(case.graph)
    if plan.num_junctions == 0:
        return
    root_junction = case.graph.regions[0].junction
    absolute = training_policy(plan, case.scores, case.tau, case.eps, "absolute")[root_junction]
    conditional = training_policy(plan, case.scores, case.tau, case.eps, "conditional")[root_junction]
    torch.testing.assert_close(absolute, conditional)


@SETTINGS
@given(routing_cases(), floors)
def test_region_probabilities_are_path_products(case, floor):
    plan = RegionTables(case.graph)
    pi = training_policy(plan, case.scores, case.tau, case.eps, floor)
    p = region_probabilities(plan, pi)
    for k, path in enumerate(case.graph.paths):
        for b in range(case.batch):
            expected = brute_path_probability(path, pi, b)
            row = b if p.shape[0] > 1 else 0
            assert p[row, path.region].item() == pytest.approx(expected, rel=1e-9, abs=1e-300)


@SETTINGS
@given(routing_cases())
def test_argmax_routing_reaches_the_walked_leaf(case):
    plan = RegionTables(case.graph)
    decisions = inference_policy(case.scores)
    for name, d in decisions.items():
        assert torch.equal(d, case.scores[name].argmax(-1))
    leaf = routed_leaf(plan, decisions).expand(case.batch)
    assert leaf.tolist() == brute_routed_leaf(case.graph, decisions, case.batch)
    below = leaf_region_below(plan, decisions).expand(case.batch, -1)
    for b in range(case.batch):
        for r in range(plan.num_regions):
            assert below[b, r].item() == brute_walk(case.graph, decisions, b, r)


@SETTINGS
@given(routing_cases())
def test_one_hot_probabilities_mark_the_argmax_path(case):
    plan = RegionTables(case.graph)
    decisions = inference_policy(case.scores)
    p = region_probabilities(plan, one_hot_probs(plan, decisions, torch.float64))
    for b in range(case.batch):
        leaf_region = brute_walk(case.graph, decisions, b)
        on_path = set(case.graph.paths[[q.region for q in case.graph.paths].index(leaf_region)].regions)
        expected = [1.0 if r in on_path else 0.0 for r in range(plan.num_regions)]
        assert p[b if p.shape[0] > 1 else 0].tolist() == expected


def test_training_policy_rejects_bad_settings():
    plan = RegionTables(graph_from_nested([[], []]))
    scores = {"junction0": torch.zeros(2, 2)}
    with pytest.raises(ConfigError):
        training_policy(plan, scores, tau=0.0)
    with pytest.raises(ConfigError):
        training_policy(plan, scores, tau=1.0, eps=1.0)
    with pytest.raises(ConfigError):
        training_policy(plan, scores, tau=1.0, floor="sideways")
    with pytest.raises(ValueError, match="shape"):
        training_policy(plan, {"junction0": torch.zeros(2, 3)}, tau=1.0)
    with pytest.raises(ValueError, match="missing"):
        training_policy(plan, {}, tau=1.0)


def test_uniform_scores_split_evenly():
    plan = RegionTables(graph_from_nested([[], []]))
    pi = training_policy(plan, {"junction0": torch.zeros(2, 2)}, tau=1.0)
    p = region_probabilities(plan, pi)
    torch.testing.assert_close(p, torch.tensor([[1.0, 0.5, 0.5]] * 2))
