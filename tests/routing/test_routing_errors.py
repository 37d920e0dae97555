"""Error functions and leaf_errors."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_regions import graph_from_nested

from routegraph.errors import UnknownNameError
from routegraph.routing import (
    ERROR_FUNCTIONS,
    RegionTables,
    cross_entropy,
    error_function,
    leaf_errors,
    zero_one,
)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 5), st.integers(2, 10), st.sampled_from([0.0, 1e-6, 1e-2]))
def test_cross_entropy_is_the_smoothed_reference_formula(seed, batch, classes, epsilon):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, generator=gen, dtype=torch.float64) * 5
    labels = torch.randint(0, classes, (batch,), generator=gen)
    p = epsilon / classes + (1 - epsilon) * torch.softmax(logits, -1)
    expected = -p.log()[torch.arange(batch), labels]
    torch.testing.assert_close(cross_entropy(logits, labels, epsilon), expected)


def test_plain_cross_entropy_when_epsilon_is_zero():
    logits, labels = torch.randn(6, 4), torch.randint(0, 4, (6,))
    torch.testing.assert_close(cross_entropy(logits, labels, 0.0),
                               torch.nn.functional.cross_entropy(logits, labels, reduction="none"))


def test_smoothing_bounds_the_error_and_its_gradient():
    logits = torch.tensor([[-1e4, 1e4, 0.0]], requires_grad=True)
    err = cross_entropy(logits, torch.tensor([0]))
    assert err.item() == pytest.approx(math.log(3 / 1e-6), rel=1e-4)
    err.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_zero_one():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]], requires_grad=True)
    err = zero_one(logits, torch.tensor([0, 0, 1]))
    assert err.tolist() == [0.0, 1.0, 1.0] and not err.requires_grad  # tie -> first class


def test_registry():
    assert set(ERROR_FUNCTIONS.names()) >= {"cross_entropy", "zero_one"}
    assert error_function("zero_one") is zero_one
    with pytest.raises(UnknownNameError, match="cross_entropy"):
        error_function("cross_entropi")


def test_leaf_errors_follow_classifier_order():
    graph = graph_from_nested([[], [[], []]], path_order=[2, 0, 1])
    plan = RegionTables(graph)
    labels = torch.tensor([0, 1])
    logits = {c: torch.randn(2, 3) for c in plan.classifiers}
    err = leaf_errors(plan, logits, labels)
    assert err.shape == (2, 3)
    for k, c in enumerate(plan.classifiers):
        torch.testing.assert_close(err[:, k], cross_entropy(logits[c], labels))
    second = plan.classifiers[1]
    torch.testing.assert_close(leaf_errors(plan, logits, labels, zero_one)[:, 1], zero_one(logits[second], labels))
    with pytest.raises(ValueError, match="missing"):
        leaf_errors(plan, {plan.classifiers[0]: logits[plan.classifiers[0]]}, labels)
