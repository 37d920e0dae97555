"""Routing policies and the probabilities they give each region.

Training policy (paper eq. 4, with the reference code's floor), for junction
``j`` sitting in region ``r_j`` with router scores ``s_j`` and sink regions
``c_1..c_n``; write ``f(r) = eps * leaves(r) / leaves(root)``:

* ``floor="absolute"`` (default; the reference code): the floor bounds each
  region's *path* probability, ``p(c_i) = (p(r_j) - f(r_j)) * softmax(s_j/tau)_i
  + f(c_i)``. Unrolled, ``p(r) = (1 - eps) * prod_{sinks on the way} softmax
  + f(r)``, so every region keeps ``p(r) >= f(r)`` however deep it is, and the
  per-sink probability is ``pi_ji = p(c_i) / p(r_j) >= f(c_i)``.
* ``floor="conditional"``: the floor bounds each sink's probability given its
  junction, ``pi_ji = softmax(s_j/tau)_i * (1 - f(r_j)) + f(c_i)``. Same at the
  root junction; deeper down a region's probability can fall to ~eps**depth
  (1e-42 at depth 7: below float32's normal range, and TALR's 1/rms(p) blows up).

Both sum to 1 over the sinks of a junction (``f(r_j) = sum_i f(c_i)``), so the
leaf probabilities sum to 1. The inference policy is ``argmax_i s_ji``.

>>> pi = training_policy(plan, {"j0": torch.zeros(2, 2)}, tau=1.0)   # doctest: +SKIP
>>> region_probabilities(plan, pi)                                    # doctest: +SKIP
tensor([[1.0000, 0.5000, 0.5000],
        [1.0000, 0.5000, 0.5000]])
"""
from __future__ import annotations

import functools
from typing import Mapping

import torch
from torch import Tensor

from routegraph.errors import ConfigError

from .tables import RegionTables

FLOORS = ("absolute", "conditional")


def junction_tensors(plan: RegionTables, per_junction: Mapping[str, Tensor], what: str,
                     sinks: bool = True) -> list[Tensor]:
    """``per_junction`` values in ``plan.junctions`` order, checking names, batch and sink counts."""
    missing = [j for j in plan.junctions if j not in per_junction]
    extra = [j for j in per_junction if j not in plan.junction_index]
    if missing or extra:
        raise ValueError(f"{what}: missing junctions {missing}, unknown junctions {extra}")
    out = [per_junction[j] for j in plan.junctions]
    batch = {t.shape[0] for t in out}
    if len(batch) > 1:
        raise ValueError(f"{what}: batch sizes differ between junctions: {sorted(batch)}")
    if sinks:
        for name, t, n in zip(plan.junctions, out, plan.arities):
            if t.dim() != 2 or t.shape[1] != n:
                raise ValueError(f"{what}[{name!r}]: expected shape [B, {n}], got {list(t.shape)}")
    return out


def training_policy(plan: RegionTables, scores: Mapping[str, Tensor], tau: float | Tensor, eps: float = 1e-6,
                    floor: str = "absolute") -> dict[str, Tensor]:
    """Per-junction sink probabilities ``[B, n_j]`` of the training policy (see module doc).

    ``scores[j]`` are junction ``j``'s router outputs; ``tau > 0`` is the temperature
    (a number, or a 0-d tensor that the caller has checked: reading a GPU tensor's
    value would stall the step and cannot be captured in a CUDA graph),
    ``0 <= eps < 1`` the floor weight. Differentiable in the scores. All junctions
    are handled together in the concatenated ``[B, S]`` sink-column layout.
    """
    if not torch.is_tensor(tau) and not tau > 0:
        raise ConfigError(f"tau must be > 0, got {tau}")
    if not 0 <= eps < 1:
        raise ConfigError(f"eps must be in [0, 1), got {eps}")
    if floor not in FLOORS:
        raise ConfigError(f"floor must be one of {FLOORS}, got {floor!r}")
    ordered = junction_tensors(plan, scores, "scores")
    if not ordered:
        return {}
    return floored_policy(plan, junction_softmax(plan, torch.cat(ordered, dim=1) / tau), eps, floor)


def floored_policy(plan: RegionTables, softmax: Tensor, eps: float | Tensor, floor: str = "absolute") -> dict[str, Tensor]:
    """Per-junction sink probabilities from ``softmax`` (``[B, S]`` sink columns that sum to 1 per
    junction: a softmax, or a one-hot argmax) with the floor of weight ``eps`` (see module doc)."""
    floors = (eps * plan.leaf_fraction).to(device=softmax.device, dtype=softmax.dtype)  # f(r), [R]
    sink_region = plan.sink_region.to(softmax.device)
    parent_region = plan.sink_parent_region.to(softmax.device)
    if floor == "conditional":
        return split_sinks(plan, softmax * (1 - floors[parent_region]) + floors[sink_region])
    # absolute: p(r) = (1 - eps) * prod of softmaxes root -> r + f(r); p(root) = 1 exactly.
    softmax_products = _path_products(plan, softmax)  # [B, R]
    region_p = (1 - eps) * softmax_products[:, 1:] + floors[1:]
    region_p = torch.cat([torch.ones_like(softmax_products[:, :1]), region_p], dim=1)
    parent_p = region_p[:, parent_region]
    reachable = parent_p > 0  # False only if eps == 0 and a softmax underflowed above the junction
    ratio = region_p[:, sink_region] / torch.where(reachable, parent_p, torch.ones_like(parent_p))
    return split_sinks(plan, torch.where(reachable, ratio, softmax))  # eps == 0: p(c_i | r_j) = softmax_i


def junction_softmax(plan: RegionTables, columns: Tensor) -> Tensor:
    """``[B, S]``: the softmax over each junction's own sink columns, for all junctions at once
    (scattered into a ``[B, J, A]`` layout padded with -inf, one softmax, gathered back)."""
    batch = columns.shape[0]
    slots = plan.sink_slot.to(columns.device)
    padded = columns.new_full((batch, plan.num_junctions * plan.max_arity), float("-inf"))
    padded = padded.index_copy(1, slots, columns).view(batch, plan.num_junctions, plan.max_arity)
    return torch.softmax(padded, dim=-1).view(batch, -1)[:, slots]


def split_sinks(plan: RegionTables, columns: Tensor) -> dict[str, Tensor]:
    """``[B, S]`` sink columns -> ``{junction: [B, n_j]}`` (views)."""
    return dict(zip(plan.junctions, columns.split(list(plan.arities), dim=1)))


def inference_policy(scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The inference policy: ``argmax_i s_ji`` per junction, ``LongTensor[B]`` (ties: first sink)."""
    return {name: s.argmax(dim=-1) for name, s in scores.items()}


def one_hot_probs(plan: RegionTables, decisions: Mapping[str, Tensor],
                  dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    """Decisions as one-hot sink probabilities ``[B, n_j]`` (the inference policy as a distribution)."""
    dtype = dtype or torch.get_default_dtype()
    junction_tensors(plan, decisions, "decisions", sinks=False)
    return {
        name: torch.nn.functional.one_hot(decisions[name].long(), n).to(dtype)
        for name, n in zip(plan.junctions, plan.arities)
    }


def region_probabilities(plan: RegionTables, sink_probs: Mapping[str, Tensor]) -> Tensor:
    """``p[B, R]``: ``p(root) = 1``, ``p(c_i) = p(r_j) * sink_probs[j][:, i]``.

    One gather and one product over the padded root-to-region chains. A graph
    without junctions gives a ``[1, 1]`` tensor of ones (it broadcasts).
    """
    ordered = junction_tensors(plan, sink_probs, "sink_probs")
    if not ordered:
        return torch.ones(1, plan.num_regions)
    return _path_products(plan, torch.cat(ordered, dim=1))


def routed_leaf(plan: RegionTables, decisions: Mapping[str, Tensor]) -> Tensor:
    """``LongTensor[B]``: index into ``plan.classifiers`` of the classifier each example reaches
    (``[1]`` for a graph without junctions).

    >>> routed_leaf(plan, {"j0": torch.tensor([0, 1])})   # doctest: +SKIP
    tensor([0, 1])
    """
    return plan.region_leaf_index.to(_device(decisions))[leaf_region_below(plan, decisions)[:, 0]]


def leaf_region_below(plan: RegionTables, decisions: Mapping[str, Tensor]) -> Tensor:
    """``LongTensor[B, R]``: the leaf region reached from each region when the
    junctions below it follow ``decisions`` (a leaf maps to itself).

    Pointer doubling on ``next[b, r]`` (the child that r's junction picks): after
    ``k`` rounds of ``next = next[next]`` every pointer has moved ``2**k`` steps
    down (leaves are fixed points), so ``ceil(log2(depth))`` gathers suffice.
    A graph without junctions gives ``[1, 1]``.
    """
    ordered = junction_tensors(plan, decisions, "decisions", sinks=False)
    device = _device(decisions)
    if not ordered:
        return torch.zeros(1, 1, dtype=torch.long, device=device)
    batch = ordered[0].shape[0]
    leaf_column = torch.zeros(batch, dtype=torch.long, device=device)
    chosen = torch.stack([d.long() for d in ordered] + [leaf_column], dim=1)  # [B, J + 1]
    region_choice = chosen[:, plan.region_junction.to(device)]  # [B, R]; leaves read the zeros column
    regions = torch.arange(plan.num_regions, device=device)
    pointer = plan.next_region.to(device)[regions, region_choice]  # [B, R]
    for _ in range(plan.doubling_rounds):
        pointer = pointer.gather(1, pointer)
    return pointer


def _path_products(plan: RegionTables, columns: Tensor) -> Tensor:
    """``[B, R]``: product of the sink columns ``[B, S]`` on the way root -> r."""
    columns = torch.cat([columns, torch.ones_like(columns[:, :1])], dim=1)  # column S is all ones
    factors = columns[:, plan.ancestor_columns.to(columns.device)].unbind(-1)  # D x [B, R]
    # Multiplied one by one, not with prod(): prod's backward reads a value on the host in
    # some torch versions (2.11 checks for zeros), which stalls a GPU step and breaks capture.
    return functools.reduce(torch.mul, factors[1:], factors[0])


def _device(per_junction: Mapping[str, Tensor]) -> torch.device:
    return next(iter(per_junction.values())).device if per_junction else torch.device("cpu")
