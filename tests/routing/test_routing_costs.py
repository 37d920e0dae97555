"""Expected and argmax-path costs against brute-force path enumeration."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_regions import brute_expected_cost, brute_routed_leaf, graph_from_nested, routing_cases

from routegraph.routing import (
    FLOORS,
    RegionTables,
    expected_cost,
    inference_cost,
    inference_policy,
    one_hot_probs,
    path_ops,
    region_probabilities,
    training_policy,
)

SETTINGS = settings(max_examples=40, deadline=None)


def _expected(case, floor="absolute", k_cpt=None, leaf_err=None):
    plan = RegionTables(case.graph)
    pi = training_policy(plan, case.scores, case.tau, case.eps, floor)
    err = case.leaf_err if leaf_err is None else leaf_err
    k = case.k_cpt if k_cpt is None else k_cpt
    return plan, pi, expected_cost(plan, region_probabilities(plan, pi), err, k)


@SETTINGS
@given(routing_cases(), st.sampled_from(FLOORS))
def test_expected_cost_equals_path_enumeration(case, floor):
    plan, pi, cost = _expected(case, floor)
    expected = brute_expected_cost(case.graph, pi, case.leaf_err, case.k_cpt)
    torch.testing.assert_close(cost, expected, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(routing_cases())
def test_one_hot_expected_cost_is_the_argmax_path_cost(case):
    plan = RegionTables(case.graph)
    decisions = inference_policy(case.scores)
    p = region_probabilities(plan, one_hot_probs(plan, decisions, torch.float64))
    hard = inference_cost(plan, decisions, case.leaf_err, case.k_cpt)
    torch.testing.assert_close(expected_cost(plan, p, case.leaf_err, case.k_cpt), hard, rtol=1e-12, atol=0)
    leaf = brute_routed_leaf(case.graph, decisions, case.batch)
    for b in range(case.batch):
        k = float(case.k_cpt[b]) if isinstance(case.k_cpt, torch.Tensor) else case.k_cpt
        brute = float(case.leaf_err[b, leaf[b]]) + k * case.graph.paths[leaf[b]].ops
        assert hard[b].item() == pytest.approx(brute, rel=1e-12)


@SETTINGS
@given(routing_cases())
def test_zero_k_cpt_leaves_only_the_error(case):
    plan, pi, cost = _expected(case, k_cpt=0.0)
    p = region_probabilities(plan, pi)
    torch.testing.assert_close(cost, (p[:, plan.leaf_regions] * case.leaf_err).sum(-1), rtol=1e-12, atol=0)
    decisions = inference_policy(case.scores)
    leaf = torch.tensor(brute_routed_leaf(case.graph, decisions, case.batch))
    hard = inference_cost(plan, decisions, case.leaf_err, 0.0)
    assert torch.equal(hard, case.leaf_err[torch.arange(case.batch), leaf])


@SETTINGS
@given(routing_cases())
def test_per_example_k_cpt_matches_separate_calls(case):
    plan, pi, _ = _expected(case)
    p = region_probabilities(plan, pi).expand(case.batch, -1)
    k = torch.linspace(0, 6.4e-8, case.batch, dtype=torch.float64)
    together = expected_cost(plan, p, case.leaf_err, k)
    for b in range(case.batch):
        alone = expected_cost(plan, p[b : b + 1], case.leaf_err[b : b + 1], float(k[b]))
        torch.testing.assert_close(together[b : b + 1], alone, rtol=1e-12, atol=0)


def test_float32_costs_keep_precision_with_huge_op_counts():
    """ops ~1e9 times k_cpt ~1e-9: float32 probabilities, cost accurate to float32 eps."""
    ops = [999_999_937, 1_000_000_007, 3, 1_234_567_891]
    graph = graph_from_nested([[], [[], []]], node_ops=ops + [5], router_ops=[17, 0, 13, 0, 0])
    plan = RegionTables(graph)
    scores = {j.name: torch.randn(5, 2) for j in graph.junctions}
    pi = training_policy(plan, scores, tau=1.0)
    err = torch.rand(5, 3)
    p32 = region_probabilities(plan, pi)
    cost32 = expected_cost(plan, p32, err, 3.2e-8)
    pi64 = {k: v.double() for k, v in pi.items()}
    exact = brute_expected_cost(graph, pi64, err.double(), 3.2e-8)
    assert cost32.dtype == torch.float32
    torch.testing.assert_close(cost32.double(), exact, rtol=3e-6, atol=0)


def test_path_ops_sum_region_ops():
    graph = graph_from_nested([[], [[], []]], node_ops=[1, 2, 3, 4, 5], router_ops=[10, 0, 20, 0, 0])
    assert path_ops(RegionTables(graph)).tolist() == [1 + 10 + 2, 1 + 10 + 3 + 20 + 4, 1 + 10 + 3 + 20 + 5]
