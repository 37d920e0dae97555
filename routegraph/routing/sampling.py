"""Training policies of the critics, and drawing a sink from them (paper §5.4).

A critic's routers learn from costs that were evaluated, never through the policy's
probabilities, so a critic can train under any policy (``TrainConfig.policy``):

* ``softmax``: the paper's ``softmax(s / tau)``, with the floor of weight ``eps``
  (:func:`~routegraph.routing.training_policy`);
* ``epsilon_greedy``: the argmax sink with probability ``1 - epsilon``, else a sink
  drawn uniformly: ``pi_i = (1 - epsilon) [i = argmax] + epsilon / n``;
* ``argmax_floor``: the argmax sink, with the absolute floor of weight ``epsilon``:
  every region keeps a path probability of at least ``epsilon * leaves(r) / leaves(root)``
  (:func:`~routegraph.routing.policy.floored_policy` with a one-hot in place of the softmax).

``epsilon`` follows its own schedule (``TrainConfig.epsilon_at``). :func:`policy_probabilities`
gives every junction's ``[B, n_j]`` probabilities from dense scores (dense critics);
:func:`junction_policy` gives one junction's, for the examples that reached it, from their
path probability so far (sampled critics: the same numbers, computed where they are needed).

>>> pi = torch.tensor([[0.2, 0.8], [1.0, 0.0]])
>>> sample_sinks(pi, torch.tensor([0.1, 0.99]))
tensor([0, 0])
>>> sample_sinks(pi, torch.tensor([0.5, 0.5]))
tensor([1, 0])
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from ..checks import POLICIES
from ..errors import ConfigError
from .policy import floored_policy, junction_tensors, split_sinks, training_policy
from .tables import RegionTables


def _check(policy: str, epsilon) -> None:
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if not torch.is_tensor(epsilon) and not 0 <= epsilon < 1:
        raise ConfigError(f"epsilon must be in [0, 1), got {epsilon}")


def _one_hot(scores: Tensor) -> Tensor:
    return torch.nn.functional.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)


def policy_probabilities(plan: RegionTables, scores: Mapping[str, Tensor], policy: str = "softmax", *,
                         tau: float | Tensor = 1.0, epsilon: float | Tensor = 0.0,
                         eps: float = 1e-6) -> dict[str, Tensor]:
    """Every junction's sink probabilities ``[B, n_j]`` under ``policy`` (see module doc)."""
    _check(policy, epsilon)
    if policy == "softmax":
        return training_policy(plan, scores, tau, eps)
    ordered = junction_tensors(plan, scores, "scores")
    if not ordered:
        return {}
    if policy == "argmax_floor":
        return floored_policy(plan, torch.cat([_one_hot(s) for s in ordered], dim=1), epsilon)
    return split_sinks(plan, torch.cat([(1 - epsilon) * _one_hot(s) + epsilon / s.shape[1] for s in ordered], dim=1))


def junction_policy(plan: RegionTables, junction: int, scores: Tensor, parent_p: Tensor, policy: str = "softmax", *,
                    tau: float | Tensor = 1.0, epsilon: float | Tensor = 0.0, eps: float = 1e-6) -> Tensor:
    """``[n, A]``: junction number ``junction``'s sink probabilities for the ``n`` examples that reached
    it, from their scores ``[n, A]`` and their path probability ``parent_p [n]`` of its region
    (the product of the sink probabilities taken so far; 1 at the root). Equal to
    :func:`policy_probabilities` there. With the absolute floor, ``p(c_i) = (p(r) - f(r)) base_i + f(c_i)``
    and ``pi_i = p(c_i) / p(r)``.

    >>> junction_policy(None, 0, torch.tensor([[0.0, 2.0, 1.0]]), torch.ones(1), "epsilon_greedy", epsilon=0.3)
    tensor([[0.1000, 0.8000, 0.1000]])
    """
    _check(policy, epsilon)
    if policy == "epsilon_greedy":
        return (1 - epsilon) * _one_hot(scores) + epsilon / scores.shape[1]
    base = torch.softmax(scores / tau, dim=1) if policy == "softmax" else _one_hot(scores)
    weight = eps if policy == "softmax" else epsilon
    fraction = plan.leaf_fraction.to(device=scores.device, dtype=scores.dtype)
    sink_floor = weight * fraction[plan.junction_sink_regions[junction].to(scores.device)]  # [A]
    parent_floor = weight * fraction[int(plan.junction_region[junction])]
    parent_p = parent_p.to(scores.dtype)[:, None]
    reachable = parent_p > 0
    ratio = ((parent_p - parent_floor) * base + sink_floor) / torch.where(reachable, parent_p, torch.ones_like(parent_p))
    return torch.where(reachable, ratio, base)


def sample_sinks(pi: Tensor, uniforms: Tensor) -> Tensor:
    """``LongTensor[n]``: the sink each example draws from ``pi [n, A]`` with its uniform number in
    ``[0, 1)`` (the inverse of the cumulative distribution: the first sink whose cumulative
    probability exceeds it). The draws are the caller's, so they depend only on (seed, step, example)."""
    cumulative = pi.cumsum(1)
    drawn = (cumulative <= uniforms.to(pi.dtype)[:, None]).sum(1)
    return drawn.clamp_(max=pi.shape[1] - 1)
