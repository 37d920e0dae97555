"""Costs of inference: expected over a routing policy, or along the argmax path.

With ``p(r)`` the probability that an example's route runs region ``r``,
``ops(r)`` the region's multiply-accumulates (its nodes plus the router of the
junction ending it) and ``err(l)`` the error at classifier ``l`` (paper eqs. 1-3):

    E[c_inf] = sum_r p(r) * k_cpt * ops(r)  +  sum_leaves p(l) * err(l)

This equals the sum over root-to-leaf paths of ``P(path) * (err(leaf) + k_cpt *
ops(path))`` whenever each junction's sink probabilities sum to 1; gradients
reach the router scores through ``p`` from both terms (the actor objective).

Precision. ``ops`` are integers up to ~1e9 and ``k_cpt`` ~1e-9..1e-7, so their
product is O(0.01..10). Both are held in float64 (exact for integers < 2**53)
and only the product ``k_cpt * ops`` is rounded to the working dtype (that of
the probabilities / errors, usually float32): no large integer is ever rounded
to float32 and nothing large is subtracted.

>>> p = region_probabilities(plan, training_policy(plan, scores, tau=1.0))  # doctest: +SKIP
>>> loss = expected_cost(plan, p, leaf_err, k_cpt=1e-9).mean()              # doctest: +SKIP
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from ..k_cpt import cost_column
from .tables import RegionTables
from .policy import junction_tensors, routed_leaf


def path_ops(plan: RegionTables) -> Tensor:
    """float64 ``[n_classifiers]``: ops of each classifier's full path (routers included)."""
    return plan.ops_to_leaf[0].clone()


def expected_cost(plan: RegionTables, region_p: Tensor, leaf_err: Tensor, k_cpt: float | Tensor) -> Tensor:
    """``[B]``: ``sum_r p(r) k_cpt ops(r) + sum_l p(l) err(l)`` (see module doc).

    ``region_p`` is ``[B, R]`` (from :func:`region_probabilities`), ``leaf_err``
    ``[B, n_classifiers]`` in ``plan.classifiers`` order, ``k_cpt`` a number or ``[B]``.
    """
    dtype = torch.promote_types(region_p.dtype, leaf_err.dtype)
    k = cost_column(k_cpt, region_p.device)
    compute_cost = (k * plan.region_ops.to(region_p.device)).to(dtype)  # [B or 1, R]
    leaf_p = region_p[:, plan.leaf_regions.to(region_p.device)]
    return (region_p * compute_cost).sum(-1) + (leaf_p * leaf_err).sum(-1)


def inference_cost(plan: RegionTables, decisions: Mapping[str, Tensor], leaf_err: Tensor,
                   k_cpt: float | Tensor) -> Tensor:
    """``[B]``: ``err(l*) + k_cpt * ops(path to l*)`` where ``l*`` is the classifier that
    ``decisions`` (e.g. the argmax policy) route each example to."""
    batch = leaf_err.shape[0]
    leaf = routed_leaf(plan, decisions).to(leaf_err.device).expand(batch)
    err = leaf_err.gather(1, leaf[:, None]).squeeze(1)
    k = cost_column(k_cpt, leaf_err.device).squeeze(1)
    ops = plan.ops_to_leaf[0].to(leaf_err.device)[leaf]
    return err + (k * ops).to(err.dtype)


def decisiveness_penalty(scores: Mapping[str, Tensor], region_p: Tensor, plan: RegionTables) -> Tensor:
    """``[B]``: ``sum_j stop_grad(p(r_j)) * ||s_j||^2`` (paper eq. 10's k_dec term, before k_dec).

    Gradients reach the scores only through ``||s_j||^2``, never through ``p``.
    """
    ordered = junction_tensors(plan, scores, "scores")
    if not ordered:
        return region_p.new_zeros(region_p.shape[0])
    squares = torch.cat(ordered, dim=1).pow(2)  # [B, S]
    weights = region_p.detach()[:, plan.sink_parent_region.to(region_p.device)]  # [B, S]
    return (weights * squares).sum(-1)
