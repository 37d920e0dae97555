"""Throughput-adjusted learning rates (TALR, paper section 4.5).

Every parameter of region ``r`` (its layers and the router ending it) has its
gradient multiplied by

    alpha_r = 1 / sqrt(mean_b p_b(r)^2)

so that the variance of its update does not depend on how much probability the
policy routes through it. (The paper writes ``||p||^-1``; the root-mean-square
reading matches its derivation and the reference code.) A region that every
example runs (``p = 1``, e.g. the root) gets exactly 1.

>>> talr_scales(torch.tensor([[1.0, 0.5, 0.5], [1.0, 0.5, 0.5]]))
tensor([1., 2., 2.])
"""
from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def talr_scales(region_p: Tensor, mean=None) -> Tensor:
    """``[R]`` gradient scales ``1 / sqrt(mean_b p(r)^2)`` from ``region_p [B, R]``; no gradient.

    Computed in float64 and returned in ``region_p``'s dtype. Exactly 1 where every
    example has ``p == 1``. A region no example reaches (``p == 0`` throughout, only
    possible with one-hot probabilities) gets 1: its gradients are zero anyway.

    ``mean`` turns a per-process batch mean into a global one under data-parallel
    training (e.g. ``DistContext.mean``); the batch mean is then over every rank.
    """
    p = region_p.detach().to(torch.float64)
    mean_square = p.pow(2).mean(dim=0)
    if mean is not None:
        mean_square = mean(mean_square)
    scales = torch.where(mean_square > 0, mean_square.rsqrt(), torch.ones_like(mean_square))
    everywhere = (p == 1).all(dim=0)
    if mean is not None:
        everywhere = mean(everywhere.to(torch.float64)) == 1
    scales = torch.where(everywhere, torch.ones_like(scales), scales)
    return scales.to(region_p.dtype)
