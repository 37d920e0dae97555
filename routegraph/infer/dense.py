"""Argmax routing on a dense pass: the one implementation.

:func:`dense_route` evaluates every node of the network densely (``model(x, k_cpt)``,
inference semantics), takes each junction's argmax (the inference policy) and follows
the decisions to the classifier each example reaches
(:func:`routegraph.routing.routed_leaf`). It returns the same :class:`RoutedOutput` as
the path-only :func:`~routegraph.infer.route`, and is its reference in the tests;
``evaluate`` (the numbers in eval.json) is built on it.

>>> out = dense_route(model, images, k_cpt=4e-9)              # doctest: +SKIP
>>> out.predictions, out.exit_names[:3], out.decisions        # doctest: +SKIP
"""
from __future__ import annotations

import torch

from ..checks import POSITIVE_INT
from ..errors import ConfigError
from ..k_cpt import k_cpt_to_route
from ..nn.model import RoutedNetwork
from ..nn.precision import as_float, autocast
from ..routing import RegionTables, inference_policy, routed_leaf
from .executor import RoutedOutput


@torch.no_grad()
def dense_route(model: RoutedNetwork, x, k_cpt=None, *, batch_size: int | None = None,
                precision: str = "fp32") -> RoutedOutput:
    """Argmax-routed outputs of ``model`` on ``x`` computed densely; see the module docstring.

    ``x``: [N, *input shape], a tensor or an index-based view (read ``batch_size`` rows at a
    time; None: all at once). ``k_cpt``: a number or a per-example tensor [N]; required for
    dynamic-k_cpt networks, ignored otherwise. ``ops`` are the chosen paths' ops (what path-only
    inference spends), not what the dense pass spent. Outputs are on the CPU. ``precision``: fp32, or
    bf16 (autocast; scores and logits compared in fp32 copies; :mod:`routegraph.nn.precision`)."""
    graph = model.graph
    k_cpt = k_cpt_to_route(graph, k_cpt)
    if batch_size is not None:
        POSITIVE_INT.check(batch_size, "batch_size")
    first = next(model.parameters(), None)
    device, dtype = (first.device, first.dtype) if first is not None else (torch.device("cpu"), torch.float32)
    plan = RegionTables(graph).to(device)
    n = len(x)
    step = batch_size or max(n, 1)
    was_training = model.training
    model.eval()
    try:
        parts = [_route_batch(model, plan, x[start:start + step].to(device=device, dtype=dtype),
                              _batch_k(graph, k_cpt, start, step, n, device), precision)
                 for start in range(0, n, step)]
    finally:
        model.train(was_training)
    return _assemble(graph, plan, parts)


def _batch_k(graph, k_cpt, start: int, step: int, n: int, device):
    """The k_cpt the routers read for rows ``start:start + step``: ``[B]`` float32 (or the
    caller's per-example values), None for a network that does not read it."""
    if not graph.k_cpt_input:
        return None
    if torch.is_tensor(k_cpt) and k_cpt.dim() > 0 and k_cpt.numel() > 1:
        if len(k_cpt) != n:
            raise ConfigError(f"k_cpt has {len(k_cpt)} values for {n} examples")
        return k_cpt[start:start + step].to(device)
    return torch.full((min(step, n - start),), float(k_cpt), device=device)


def _route_batch(model, plan: RegionTables, x: torch.Tensor, k, precision: str = "fp32"):
    """``(predictions, exit logits or None, decisions, leaf)`` of one batch, on the CPU."""
    with autocast(precision, x.device.type):
        out = model(x, k)
    if precision != "fp32":
        out = as_float(out)
    chosen = inference_policy(out.scores)
    leaf = routed_leaf(plan, chosen).expand(len(x))  # [1] when there are no junctions
    logits = [out.logits[c] for c in plan.classifiers]
    if len({t.shape[1] for t in logits}) == 1:
        picked = torch.stack(logits, 1)[torch.arange(len(x), device=leaf.device), leaf]  # each example's exit
        predictions = picked.argmax(1).cpu()
        picked = picked.cpu()
    else:  # the classifiers disagree on the number of classes: no common logits tensor
        picked = None
        predictions = torch.stack([logits[e][i].argmax() for i, e in enumerate(leaf.tolist())]).cpu()
    return predictions, picked, {j: d.cpu() for j, d in chosen.items()}, leaf.cpu()


def _assemble(graph, plan: RegionTables, parts) -> RoutedOutput:
    """One :class:`RoutedOutput` from the batches' outputs; -1 where an example did not pass a junction."""
    predictions, leaf = _cat([p[0] for p in parts]), _cat([p[3] for p in parts])
    uniform = all(p[1] is not None for p in parts) and bool(parts)
    logits = torch.cat([p[1] for p in parts]) if uniform else None
    classifiers = plan.classifiers  # graph.paths order, which RoutedOutput.exit indexes
    ops = torch.tensor([graph.path(c).ops for c in classifiers], dtype=torch.int64)[leaf]
    junctions = tuple(j.name for j in graph.junctions)
    taken_parts = []
    for jx, junction in enumerate(graph.junctions):
        taken = _cat([p[2][junction.name] for p in parts])
        reached = torch.isin(leaf, _leaves_below(graph, plan, junction))
        taken_parts.append((jx, None, torch.where(reached, taken, torch.full_like(taken, -1))))
    return RoutedOutput(predictions, leaf, ops, logits, classifiers, taken_parts, junctions)


def _leaves_below(graph, plan: RegionTables, junction) -> torch.Tensor:
    """Indices (into ``plan.classifiers``) of the classifiers whose path passes ``junction``."""
    below = set(graph.subtree_regions(junction.region))
    return torch.tensor([i for i, c in enumerate(plan.classifiers) if graph.path(c).region in below], dtype=torch.long)


def _cat(tensors: list) -> torch.Tensor:
    """``torch.cat``, or an empty int64 tensor when there is nothing to join (no examples)."""
    return torch.cat(tensors) if tensors else torch.zeros(0, dtype=torch.long)
