"""Utility targets for critic training (paper eqs. 7-8).

The critic regresses router scores onto ``u_ji = -C(c_i)``, where ``c_i`` is
the region opened by sink ``i`` of junction ``j`` and ``C(s)`` is the cost of
the subtree below ``s``: the error at the classifier reached plus ``k_cpt`` times
the ops of every region run on the way from ``s`` (inclusive) down to it,
routers included. With ``ops(s -> l)`` those ops (``plan.ops_to_leaf``):

* pragmatic: ``C(s) = err(l_s) + k_cpt * ops(s -> l_s)``, ``l_s`` the leaf that
  the inference policy (the given argmax ``decisions``) reaches from ``s``;
* optimistic: ``C(s) = min_{l below s} [err(l) + k_cpt * ops(s -> l)]``, the best
  leaf below ``s``.

Both are the post-order recursions ``C(s) = err(s) [leaf] + k_cpt ops(s) +
(C(child picked) | min_i C(child_i))`` of the reference code, evaluated in closed
form over all regions at once: a pointer-doubling gather (pragmatic) or a
minimum over every (region, leaf below it) pair (optimistic). ``u_ji`` depends only on data at or
below ``c_i``: errors of leaves below it, ops of regions below it, and the
decisions of junctions below it.

Targets are held constant during training: these are plain tensors (they carry
gradients if ``leaf_err`` does), and callers must ``.detach()`` them before the
regression loss ``k_ure * sum_i (s_ji - u_ji)^2``.

>>> u = utility_targets(plan, leaf_err, 1e-9, "pragmatic", inference_policy(scores))  # doctest: +SKIP
>>> critic_loss = sum(((scores[j] - u[j].detach()) ** 2).sum(-1) for j in u)       # doctest: +SKIP
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from routegraph.errors import ConfigError

from ..k_cpt import cost_column
from .tables import RegionTables
from .policy import leaf_region_below

TARGET_KINDS = ("pragmatic", "optimistic")


def subtree_costs(plan: RegionTables, leaf_err: Tensor, k_cpt: float | Tensor, kind: str,
                  decisions: Mapping[str, Tensor] | None = None) -> Tensor:
    """``[B, R]``: cost ``C(r)`` of the subtree below every region (see module doc)."""
    if kind not in TARGET_KINDS:
        raise ConfigError(f"utility target kind must be one of {TARGET_KINDS}, got {kind!r}")
    device, dtype = leaf_err.device, leaf_err.dtype
    k = cost_column(k_cpt, device)  # [B or 1, 1], float64
    if kind == "pragmatic":
        if decisions is None:
            raise ConfigError("pragmatic utility targets need the inference policy's decisions")
        leaf_region = leaf_region_below(plan, decisions).to(device)  # [B or 1, R]
        leaf_column = plan.region_leaf_index.to(device)[leaf_region]
        leaf_column = leaf_column.expand(leaf_err.shape[0], -1)  # [B, R]
        regions = torch.arange(plan.num_regions, device=device)
        compute = (k * plan.ops_to_leaf.to(device)[regions, leaf_column]).to(dtype)  # [B, R]
        return leaf_err.gather(1, leaf_column) + compute
    # optimistic: over the P (region, leaf below it) pairs, then the minimum per region
    pair_region, pair_leaf = plan.pair_region.to(device), plan.pair_leaf.to(device)
    along_the_way = leaf_err[:, pair_leaf] + (k * plan.pair_ops.to(device)).to(dtype)  # [B, P]
    best = along_the_way.new_full((along_the_way.shape[0], plan.num_regions), float("inf"))
    index = pair_region.expand(along_the_way.shape[0], -1)
    return best.scatter_reduce(1, index, along_the_way, reduce="amin", include_self=False)


def utility_targets(plan: RegionTables, leaf_err: Tensor, k_cpt: float | Tensor, kind: str,
                    decisions: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
    """Per-junction targets ``u_j = -C(sink regions of j)``, ``[B, n_j]`` (see module doc).

    ``leaf_err`` is ``[B, n_classifiers]`` in ``plan.classifiers`` order (cross-entropy,
    or 0/1 error for the classification-error variant); ``k_cpt`` a number or ``[B]``;
    ``kind`` ``'pragmatic'`` (needs ``decisions``, the argmax policy) or ``'optimistic'``.
    """
    costs = subtree_costs(plan, leaf_err, k_cpt, kind, decisions)
    if plan.num_junctions == 0:
        return {}
    per_sink = -costs[:, plan.sink_region.to(costs.device)]  # [B, S]
    return dict(zip(plan.junctions, per_sink.split(list(plan.arities), dim=1)))
