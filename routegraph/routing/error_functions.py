"""Pluggable per-example error functions ``c_err`` for classifiers.

Every entry of :data:`ERROR_FUNCTIONS` has the signature
``fn(logits: Tensor[B, C], labels: LongTensor[B]) -> Tensor[B]``.

* ``cross_entropy`` (default): the reference code's smoothed cross-entropy,
  ``-log(eps / C + (1 - eps) * softmax(logits)_y)`` with ``eps = 1e-6``. The paper
  only says "cross-entropy"; the smoothing bounds the error by ``log(C / eps)``
  (~16 for 10 classes), which keeps utility targets finite. ``epsilon=0`` is the
  plain cross-entropy. Computed stably in log space.
* ``zero_one``: 1 where the argmax class is wrong, else 0 (ties: first class).
  Not differentiable; for critic targets (the "classification error" variant).

>>> logits, labels = torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0])
>>> zero_one(logits, labels)
tensor([0., 1.])
>>> leaf_errors(plan, {"exit": logits}, labels, "zero_one")      # doctest: +SKIP
tensor([[0.], [1.]])
"""
from __future__ import annotations

import math
from typing import Callable, Mapping

import torch
from torch import Tensor

from routegraph.registry import Registry

from .tables import RegionTables

ErrorFunction = Callable[[Tensor, Tensor], Tensor]

ERROR_FUNCTIONS: Registry[ErrorFunction] = Registry(
    "error function", "fn(logits: Tensor[B, C], labels: LongTensor[B]) -> Tensor[B]"
)


@ERROR_FUNCTIONS.register("cross_entropy")
def cross_entropy(logits: Tensor, labels: Tensor, epsilon: float = 1e-6) -> Tensor:
    """``[B]``: ``-log(epsilon / C + (1 - epsilon) * softmax(logits)_label)``."""
    if not 0 <= epsilon < 1:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
    log_p = torch.log_softmax(logits, dim=-1).gather(1, labels.long()[:, None]).squeeze(1)
    if epsilon == 0:
        return -log_p
    n_classes = logits.shape[-1]
    floor = torch.full_like(log_p, math.log(epsilon / n_classes))
    return -torch.logaddexp(log_p + math.log1p(-epsilon), floor)


@ERROR_FUNCTIONS.register("zero_one")
def zero_one(logits: Tensor, labels: Tensor) -> Tensor:
    """``[B]``: 1.0 where ``argmax(logits) != label``, else 0.0 (no gradient)."""
    return (logits.detach().argmax(dim=-1) != labels).to(logits.dtype)


def error_function(error: str | ErrorFunction) -> ErrorFunction:
    """Look an error function up by name (callables pass through)."""
    return ERROR_FUNCTIONS.get(error) if isinstance(error, str) else error


def leaf_errors(plan: RegionTables, logits: Mapping[str, Tensor], labels: Tensor,
                error: str | ErrorFunction = "cross_entropy") -> Tensor:
    """``[B, n_classifiers]``: ``error(logits[c], labels)`` for each classifier, in
    ``plan.classifiers`` order (the column order every cost and target function expects)."""
    missing = [c for c in plan.classifiers if c not in logits]
    if missing:
        raise ValueError(f"logits missing for classifiers {missing}")
    fn = error_function(error)
    return torch.stack([fn(logits[c], labels) for c in plan.classifiers], dim=1)
