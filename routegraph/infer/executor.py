"""Path-only (routed) inference: every example runs only the nodes on its own path.

:func:`route` walks the region tree of the compiled graph with the batch.
At each junction the router scores the examples that reached it, the argmax
picks a sink per example, and the batch is *compacted*: one stable argsort of
the decisions splits it into a sub-batch per sink (index_select; no
per-example Python loop), each child region runs on its own sub-batch, and the
classifiers' outputs are scattered back to the examples' original rows at the
end. A sink nobody picked is skipped; when everybody picks the same sink the
batch passes on without any copy. Only the tensors a subtree reads are
gathered (for a pyramid, only the levels it reads).

Ops: each example is charged its classifier's ``path.ops`` from the compiled
graph -- the multiply-accumulates of the nodes and routers that ran for it.
``FlopCounterMode`` around :func:`route` counts the same total (tests/infer).

Numerics: inference semantics (BN running statistics), with BN folded into the
preceding conv/linear by default (``fold_bn=False`` turns it off). Training is
unaffected: it keeps using the dense ``model(x)``.

>>> out = route(model, images, k_cpt=4e-9)                # doctest: +SKIP
>>> out.predictions, out.exit_names[:3], out.ops.double().mean()   # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch

from ..checks import POSITIVE_INT
from ..errors import ConfigError
from ..k_cpt import k_cpt_to_route
from ..nn.model import RoutedNetwork, gather_rows as _gather
from ..nn.precision import autocast, resolve
from .plan import ExecutionPlan, plan_for


@dataclass
class RoutedOutput:
    """What :func:`route` returns, one row per example.

    ``predictions``: int64 [N] predicted class; ``exit``: int64 [N] index into
    ``classifiers`` of the classifier the example exited at; ``ops``: int64 [N]
    multiply-accumulates it spent (its path's ops, routers included);
    ``logits``: [N, classes] of its exit classifier (None if the classifiers
    disagree on the number of classes); ``classifiers``: classifier names.
    """

    predictions: torch.Tensor
    exit: torch.Tensor
    ops: torch.Tensor
    logits: torch.Tensor | None
    classifiers: tuple[str, ...]
    _decision_parts: list = field(default_factory=list, repr=False)
    _junctions: tuple[str, ...] = field(default=(), repr=False)

    @property
    def exit_names(self) -> list[str]:
        """The classifier name each example exited at."""
        return [self.classifiers[i] for i in self.exit.tolist()]

    @property
    def mean_ops(self) -> float:
        return self.ops.double().mean().item() if len(self.ops) else 0.0

    @property
    def total_ops(self) -> int:
        return int(self.ops.sum())

    @property
    def decisions(self) -> dict[str, torch.Tensor]:
        """Junction -> int64 [N]: the sink each example took there, -1 where it did not pass."""
        n = len(self.exit)
        out = {j: torch.full((n,), -1, dtype=torch.long) for j in self._junctions}
        for jx, idx, d in self._decision_parts:
            target = out[self._junctions[jx]]
            if idx is None:
                target.copy_(d)
            else:
                target.index_copy_(0, idx, d)
        return out

    def exit_fractions(self) -> dict[str, float]:
        counts = torch.bincount(self.exit, minlength=len(self.classifiers)).tolist()
        n = max(len(self.exit), 1)
        return {c: k / n for c, k in zip(self.classifiers, counts)}


#: Largest batch executed at once by default: bigger batches run in chunks of this size
#: (measured: per-image time grows past ~256 images of 32x32 on a CPU, as maps leave the caches).
DEFAULT_BATCH = 256


def route(model: RoutedNetwork, x: torch.Tensor, k_cpt=None, *, force: Mapping[str, torch.Tensor] | None = None,
          batch_size: int | None = DEFAULT_BATCH, plan: ExecutionPlan | None = None, precision: str = "fp32",
          **plan_options) -> RoutedOutput:
    """Routed, path-only inference of ``model`` on ``x`` ([N, *input shape]; a tensor, or an index-based
    view such as :meth:`routegraph.data.Task.view`, read a ``batch_size`` chunk at a time).

    ``k_cpt``: a float or a per-example tensor [N]; required for dynamic-k_cpt
    networks (``graph.k_cpt_input``), ignored otherwise. ``force``: junction ->
    int64 [N] sink per example that replaces the routers' argmax (routers
    still run, so timings stay honest; for benchmarks and tests).
    ``batch_size``: run in chunks of at most this many examples (default
    :data:`DEFAULT_BATCH`; None: all at once). ``precision``: fp32, bf16 (the plan's BN-folded
    weights under autocast; router scores compared, logits returned, in fp32) or auto (measured
    once per machine, network and batch size: :mod:`routegraph.nn.precision`). ``plan_options``:
    see :data:`routegraph.infer.plan.DEFAULT_OPTIONS`.
    """
    graph = model.graph
    k_cpt = k_cpt_to_route(graph, k_cpt)
    if batch_size is not None:
        POSITIVE_INT.check(batch_size, "batch_size")
    if model.training:
        model.eval()
        try:
            return route(model, x, k_cpt, force=force, batch_size=batch_size, plan=plan, precision=precision,
                         **plan_options)
        finally:
            model.train()
    plan = plan or plan_for(model, **plan_options)
    if precision not in ("fp32", "bf16"):  # 'auto': time the first chunk both ways
        chunk = x[:batch_size or len(x)]
        k = k_cpt[:len(chunk)] if torch.is_tensor(k_cpt) and k_cpt.dim() > 0 else k_cpt
        precision = resolve(precision, model, len(chunk), lambda p: route(model, chunk, k, batch_size=None, plan=plan,
                                                                          precision=p), "route")[0]
    expected = tuple(graph.input_shape.dims)
    if x.dim() != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise ConfigError(f"input of shape {tuple(x.shape)}; network {graph.name!r} expects [N, {', '.join(map(str, expected))}]")
    n = x.shape[0]
    if batch_size and n > batch_size:
        parts = []
        for start in range(0, n, batch_size):
            k = k_cpt[start:start + batch_size] if torch.is_tensor(k_cpt) and k_cpt.dim() > 0 and len(k_cpt) == n else k_cpt
            f = None if force is None else {j: d[start:start + batch_size] for j, d in force.items()}
            parts.append(route(model, x[start:start + batch_size], k, force=f, batch_size=None, plan=plan,
                               precision=precision))
        return _concat(parts)
    with torch.inference_mode(), autocast(precision, plan.device.type):
        out = _execute(plan, x.to(device=plan.device, dtype=plan.dtype), k_cpt, force)
    if precision != "fp32" and out.logits is not None:
        out.logits = out.logits.float()
    return out


def _execute(plan: ExecutionPlan, x: torch.Tensor, k_cpt, force) -> RoutedOutput:
    graph = plan.graph
    n = x.shape[0]
    if n == 0:
        empty = torch.zeros(0, dtype=torch.long, device=x.device)
        logits = x.new_zeros(0, plan.classes[0]) if len(set(plan.classes)) == 1 else None
        return RoutedOutput(empty, empty.clone(), empty.clone(), logits, graph.classifiers, [],
                            tuple(j.name for j in graph.junctions))
    kcol = plan.router_input(k_cpt, n) if plan.k_cpt_input else None
    per_example_k = kcol is not None and kcol.shape[0] > 1
    forced = _check_force(graph, force, n, plan.device) if force else None
    leaves: list[tuple[int, torch.Tensor | None, torch.Tensor]] = []
    decisions: list = []
    regions = plan.regions
    stack = [(0, {graph.input_name: x}, None, n, kcol)]
    while stack:
        r, values, idx, count, k = stack.pop()
        region = regions[r]
        for fn, ins, out, drop in region.steps:
            values[out] = fn(*[values[i] for i in ins])
            for name in drop:
                del values[name]
        if region.leaf >= 0:
            leaves.append((region.leaf, idx, values[region.output]))
            continue
        scores = region.router(values[region.reads], k)
        if forced is not None and region.junction in forced:
            d = forced[region.junction]
            d = d if idx is None else d.index_select(0, idx)
        else:
            d = scores.argmax(1)
        decisions.append((region.junction, idx, d))
        children = region.children
        if count == 1:
            stack.append((children[d.item()], values, idx, 1, k))
            continue
        counts = torch.bincount(d, minlength=len(children)).tolist()
        taken = [i for i, c in enumerate(counts) if c]
        if len(taken) == 1:  # everybody goes the same way: no copies
            stack.append((children[taken[0]], values, idx, count, k))
            continue
        parts = torch.argsort(d, stable=True).split(counts)
        for i in reversed(taken):
            part = parts[i]
            sub = {}
            for name, levels in region.gathers[i]:
                value = values[name]
                if isinstance(value, tuple):
                    sub[name] = tuple(
                        _gather(v, part) if v is not None and (levels is None or j in levels) else None
                        for j, v in enumerate(value))
                else:
                    sub[name] = _gather(value, part)
            sub_k = k.index_select(0, part) if per_example_k else k
            stack.append((children[i], sub, part if idx is None else idx.index_select(0, part), counts[i], sub_k))
    return _assemble(plan, n, leaves, decisions, x.device)


def _check_force(graph, force: Mapping[str, torch.Tensor], n: int, device) -> dict[int, torch.Tensor]:
    index = {j.name: k for k, j in enumerate(graph.junctions)}
    out = {}
    for name, d in force.items():
        if name not in index:
            raise ConfigError(f"force: unknown junction {name!r} (junctions: {', '.join(index) or 'none'})")
        d = torch.as_tensor(d, device=device).long().reshape(-1)
        arity = len(graph.junctions[index[name]].sinks)
        if len(d) != n or (n and (int(d.min()) < 0 or int(d.max()) >= arity)):
            raise ConfigError(f"force[{name!r}]: expected {n} sink indices in 0..{arity - 1}")
        out[index[name]] = d
    return out


def _assemble(plan: ExecutionPlan, n: int, leaves, decisions, device) -> RoutedOutput:
    classifiers = plan.graph.classifiers
    uniform = len(set(plan.classes)) == 1
    if len(leaves) == 1 and leaves[0][1] is None:
        leaf, _, logits = leaves[0]
        exit_ = torch.full((n,), leaf, dtype=torch.long, device=device)
        predictions = logits.argmax(1)
        logits = logits if uniform else None
    else:
        exit_ = torch.empty(n, dtype=torch.long, device=device)
        predictions = torch.empty(n, dtype=torch.long, device=device)
        all_logits = torch.empty(n, plan.classes[0], dtype=leaves[0][2].dtype, device=device) if uniform and leaves else None
        for leaf, idx, logits in leaves:
            exit_.index_fill_(0, idx, leaf)
            predictions.index_copy_(0, idx, logits.argmax(1))
            if all_logits is not None:
                all_logits.index_copy_(0, idx, logits)
        logits = all_logits
    ops = plan.path_ops.to(device)[exit_]
    return RoutedOutput(predictions, exit_, ops, logits, classifiers, decisions, tuple(j.name for j in plan.graph.junctions))


def _concat(parts: list[RoutedOutput]) -> RoutedOutput:
    first = parts[0]
    total, decision_parts = 0, []
    for p in parts:
        for jx, idx, d in p._decision_parts:
            rows = torch.arange(total, total + len(p.exit)) if idx is None else idx + total
            decision_parts.append((jx, rows, d))
        total += len(p.exit)
    logits = None if first.logits is None else torch.cat([p.logits for p in parts])
    return RoutedOutput(torch.cat([p.predictions for p in parts]), torch.cat([p.exit for p in parts]),
                        torch.cat([p.ops for p in parts]), logits, first.classifiers, decision_parts, first._junctions)
