"""Throughput-adjusted learning-rate scales."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_regions import routing_cases

from routegraph.routing import (
    RegionTables,
    inference_policy,
    one_hot_probs,
    region_probabilities,
    talr_scales,
    training_policy,
)

SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(routing_cases(), st.sampled_from([torch.float32, torch.float64]))
def test_talr_is_inverse_rms_and_exactly_one_at_the_root(case, dtype):
    plan = RegionTables(case.graph)
    scores = {name: s.to(dtype).requires_grad_() for name, s in case.scores.items()}
    p = region_probabilities(plan, training_policy(plan, scores, case.tau, max(case.eps, 1e-6))).to(dtype)
    scales = talr_scales(p)
    assert scales.dtype == dtype and not scales.requires_grad and scales.shape == (plan.num_regions,)
    assert scales[0].item() == 1.0
    expected = 1 / p.detach().double().pow(2).mean(0).sqrt()
    rtol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(scales.double(), expected, rtol=rtol, atol=0)
    assert torch.all(scales >= 1)


@SETTINGS
@given(routing_cases())
def test_talr_is_exactly_one_where_every_example_goes(case):
    """All examples take the first example's argmax path: every region on it has p = 1."""
    plan = RegionTables(case.graph)
    decisions = {name: d[:1].expand(case.batch) for name, d in inference_policy(case.scores).items()}
    p = region_probabilities(plan, one_hot_probs(plan, decisions, torch.float32))
    scales = talr_scales(p)
    on_path = (p == 1).all(0)
    assert torch.all(scales[on_path] == 1.0)
    assert torch.all(scales == 1.0)  # regions no example reaches also get 1 (their gradient is 0)


def test_talr_example():
    p = torch.tensor([[1.0, 0.5, 0.5], [1.0, 0.5, 0.5]])
    assert talr_scales(p).tolist() == [1.0, 2.0, 2.0]
    p = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    torch.testing.assert_close(talr_scales(p), torch.tensor([1.0, 2**0.5, 2**0.5]))
