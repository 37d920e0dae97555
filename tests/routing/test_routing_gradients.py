"""Gradients: the actor objective reaches the router scores through p; stop_grads hold."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_regions import graph_from_nested, routing_cases

from routegraph.routing import (
    FLOORS,
    RegionTables,
    decisiveness_penalty,
    expected_cost,
    region_probabilities,
    training_policy,
)

SETTINGS = settings(max_examples=20, deadline=None)


def _cost_of_scores(plan, names, leaf_err, k_cpt, tau, eps, floor):
    def cost(*flat_scores):
        scores = dict(zip(names, flat_scores))
        p = region_probabilities(plan, training_policy(plan, scores, tau, eps, floor))
        return expected_cost(plan, p, leaf_err, k_cpt)
    return cost


@SETTINGS
@given(routing_cases(max_batch=3), st.sampled_from(FLOORS))
def test_expected_cost_gradients_are_correct(case, floor):
    plan = RegionTables(case.graph)
    if plan.num_junctions == 0:
        return
    tau = max(case.tau, 0.1)  # keep finite differences meaningful
    scores = tuple(case.scores[j].clamp(-20, 20).requires_grad_() for j in plan.junctions)
    fn = _cost_of_scores(plan, plan.junctions, case.leaf_err, case.k_cpt, tau, case.eps, floor)
    assert torch.autograd.gradcheck(fn, scores, atol=1e-6, rtol=1e-4)


@SETTINGS
@given(routing_cases(), st.sampled_from(FLOORS))
def test_error_gradients_are_leaf_probabilities(case, floor):
    """d E[c] / d err(l) = p(l): classifiers learn in proportion to the signal they get."""
    plan = RegionTables(case.graph)
    pi = training_policy(plan, case.scores, case.tau, case.eps, floor)
    p = region_probabilities(plan, pi)
    leaf_err = case.leaf_err.clone().requires_grad_()
    expected_cost(plan, p, leaf_err, case.k_cpt).sum().backward()
    torch.testing.assert_close(leaf_err.grad, p[:, plan.leaf_regions].expand(case.batch, -1), check_dtype=False)


@pytest.mark.parametrize("floor", FLOORS)
@pytest.mark.parametrize("term", ["error", "compute"])
def test_each_cost_term_alone_reaches_every_router(term, floor):
    # root junction: a cheap leaf or an expensive region whose junction has two leaves
    graph = graph_from_nested([[], [[], []]], node_ops=[100, 1_000, 20_000, 300_000, 4_000_000],
                              router_ops=[10, 0, 10, 0, 0])
    plan = RegionTables(graph)
    scores = {j.name: torch.randn(4, 2, dtype=torch.float64, requires_grad=True) for j in graph.junctions}
    p = region_probabilities(plan, training_policy(plan, scores, tau=1.0, floor=floor))
    if term == "error":
        leaf_err, k_cpt = torch.tensor([[0.3, 1.0, 2.5]], dtype=torch.float64).expand(4, 3), 0.0
    else:
        leaf_err, k_cpt = torch.zeros(4, 3, dtype=torch.float64), 1e-7
    expected_cost(plan, p, leaf_err, k_cpt).sum().backward()
    for name, s in scores.items():
        assert s.grad is not None and torch.all(s.grad.abs().sum(-1) > 0), (name, s.grad)


@SETTINGS
@given(routing_cases(), st.sampled_from(FLOORS))
def test_decisiveness_penalty_does_not_differentiate_p(case, floor):
    """With p computed from the same scores, d/ds_j of the penalty is exactly 2 p(r_j) s_j."""
    plan = RegionTables(case.graph)
    scores = {name: s.clone().requires_grad_() for name, s in case.scores.items()}
    p = region_probabilities(plan, training_policy(plan, scores, case.tau, case.eps, floor))
    penalty = decisiveness_penalty(scores, p, plan)
    assert penalty.shape == (case.batch,) or plan.num_junctions == 0
    if plan.num_junctions == 0:
        return
    penalty.sum().backward()
    for k, j in enumerate(case.graph.junctions):
        weight = p.detach()[:, j.region, None]
        torch.testing.assert_close(scores[j.name].grad, 2 * weight * case.scores[j.name], rtol=1e-12, atol=0)
        expected_value = (weight * case.scores[j.name] ** 2).sum()
        assert expected_value <= penalty.sum() * (1 + 1e-12)
