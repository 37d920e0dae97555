"""Utility targets of sampled critic training: from what the sampled paths evaluated.

In a sampled step every example runs one path, drawn from the training policy, so
below a junction only the sink it took was evaluated. Its target is ``-V(c)``, where
``V`` is the cost of the subtree below the taken sink's region ``c``, computed bottom-up
along the example's own path (``V(leaf) = err(leaf) + k_cpt ops(leaf)``, then for each
region ``r`` above, ending in junction ``j``, with ``V_taken`` the value of the sink taken):

* ``realised``: ``V(r) = k_cpt ops(r) + V_taken``: the cost the example actually paid
  from ``r`` down. Pragmatic and optimistic critics get the same targets: below a sink
  one leaf was evaluated, and the minimum over one leaf is that leaf.
* ``bootstrapped``: where the subtree's cost under the critic's own definition needs a
  sink that was not taken, the critic's current estimate ``-s_ji`` (detached) stands in:
  pragmatic ``V(r) = k_cpt ops(r) + (V_taken if the argmax sink was taken, else -s_j,argmax)``;
  optimistic ``V(r) = k_cpt ops(r) + min(V_taken, min over the other sinks of -s_ji)``.

The sinks not taken get no target in either mode (an estimate regressed on itself has no
gradient). ``docs/training.md`` ("Sampled critics") compares this with the dense targets
of :mod:`.targets`.

>>> import torch
>>> visit = Visit(region=0, rows=torch.tensor([0, 1]), scores=torch.zeros(2, 2), taken=torch.tensor([0, 1]))
>>> sampled_targets([visit], torch.tensor([0.5, 0.7], dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
...                 torch.zeros(2, dtype=torch.float64), "pragmatic", "realised")
[tensor([-0.5000, -0.7000], dtype=torch.float64)]
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import CRITIC_TARGETS
from ..errors import ConfigError
from .targets import TARGET_KINDS


@dataclass
class Visit:
    """One junction's pass in a sampled step: the examples that reached it (``rows`` into the batch),
    their router scores ``[n, A]`` (with gradient) and the sink each took ``[n]``."""

    region: int
    rows: Tensor
    scores: Tensor
    taken: Tensor
    junction: int = -1


def sampled_targets(visits: list[Visit], leaf_value: Tensor, region_ops: Tensor, k_cpt: Tensor, kind: str,
                    mode: str = "realised") -> list[Tensor]:
    """Per visit, ``[n]``: the target ``-V(c)`` of the sink each example took (see module doc).

    ``visits`` in the order the step ran them (a junction before those below it);
    ``leaf_value [B]``: ``err + k_cpt ops(leaf region)`` at the leaf each example reached;
    ``region_ops [R]``; ``k_cpt [B]`` (float64). Float64 throughout, detached.
    """
    if kind not in TARGET_KINDS:
        raise ConfigError(f"utility target kind must be one of {TARGET_KINDS}, got {kind!r}")
    if mode not in CRITIC_TARGETS:
        raise ConfigError(f"critic_targets must be one of {', '.join(CRITIC_TARGETS)}, got {mode!r}")
    value = leaf_value.detach().to(torch.float64).clone()  # V of the region each example is at, bottom-up
    k_cpt = k_cpt.to(torch.float64)
    targets: list[Tensor] = [None] * len(visits)  # type: ignore[list-item]
    for at in reversed(range(len(visits))):  # every visit below a junction comes after it
        visit = visits[at]
        taken_value = value[visit.rows]
        targets[at] = -taken_value
        below = taken_value
        if mode == "bootstrapped":
            estimates = -visit.scores.detach().to(torch.float64)  # [n, A]
            if kind == "pragmatic":
                greedy = visit.scores.detach().argmax(1)
                below = torch.where(greedy == visit.taken, taken_value, estimates.gather(1, greedy[:, None]).squeeze(1))
            else:
                others = estimates.scatter(1, visit.taken[:, None], float("inf")).amin(1)
                below = torch.minimum(taken_value, others)
        value[visit.rows] = k_cpt[visit.rows] * region_ops[visit.region] + below
    return targets
