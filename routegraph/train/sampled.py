"""The sampled training pass: each example runs, forward and backward, only the path it draws.

:class:`SampledPass` walks the region tree with the batch, as path-only inference does
(:mod:`routegraph.infer.executor`), but in training mode and with autograd: at each junction
the router scores the examples that reached it, the training policy gives their sink
probabilities (:func:`~routegraph.routing.sampling.junction_policy`, from each example's path
probability so far), each example draws its sink with its own uniform number, and one stable
argsort splits the sub-batch per sink (``index_select``, which autograd scatters back in the
backward pass). A sink nobody drew is skipped: its layers run neither forward nor backward.

Batch norm over sub-batches (``docs/training.md``, "Sampled critics"): a layer normalises with
the statistics of the examples that reached it, the population it serves at inference, and
only those update its running statistics. A branch no example reached in a step does not run,
so its statistics stay as they were. A layer that would see one value per channel (one example
in a vector-valued branch, where batch statistics are undefined) normalises with its running
statistics and leaves them unchanged.

>>> run = SampledPass(model)(images, None, uniforms, choose)   # doctest: +SKIP
>>> [(leaf, len(rows)) for leaf, rows, _ in run.leaves]        # doctest: +SKIP
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from ..nn.model import RoutedNetwork, gather_rows, module_key
from ..routing.sampled_targets import Visit
from ..routing.sampling import sample_sinks

#: ``choose(junction index, scores [n, A] detached, path probability [n]) -> sink probabilities [n, A]``
Choose = Callable[[int, Tensor, Tensor], Tensor]


@dataclass
class SampledRun:
    """What one sampled pass evaluated: per leaf reached ``(leaf column, rows, logits)``, per junction
    passed a :class:`~routegraph.routing.sampled_targets.Visit` (in the order they ran), and
    ``leaf_of [B]``, the leaf column each example reached."""

    leaves: list[tuple[int, Tensor, Tensor]]
    visits: list[Visit]
    leaf_of: Tensor


@dataclass(frozen=True)
class _Region:
    steps: tuple[tuple[str, str, tuple[str, ...]], ...]  # (module key, output name, inputs)
    leaf: int  # column in graph.classifiers, or -1
    output: str
    junction: int  # index in graph.junctions, or -1
    router: str
    reads: str
    children: tuple[int, ...]
    needs: tuple[tuple[str, ...], ...]  # per child: the values from above its subtree reads
    norms: tuple[nn.Module, ...]  # the router's batch-norm layers


class SampledPass:
    """The sampled forward of ``model`` (see the module doc); the schedule is built once."""

    def __init__(self, model: RoutedNetwork):
        self.model = model
        graph = model.graph
        leaf_of = {c: i for i, c in enumerate(graph.classifiers)}
        junction_of = {j.name: k for k, j in enumerate(graph.junctions)}
        needs: dict[int, set[str]] = {}
        for region in reversed(graph.regions):  # children before parents
            produced = set(region.nodes)
            reads = {i for name in region.nodes for i in graph.node(name).inputs}
            if region.junction is not None:
                reads.add(graph.junctions[junction_of[region.junction]].reads)
            for child in region.children:
                reads |= needs[child]
            needs[region.id] = reads - produced
        self.regions = []
        for region in graph.regions:
            jx = junction_of.get(region.junction, -1)
            router_key = module_key(region.junction) if jx >= 0 else ""
            norms = tuple(m for m in model.routers[router_key].modules()
                          if isinstance(m, nn.modules.batchnorm._BatchNorm)) if jx >= 0 else ()
            self.regions.append(_Region(
                steps=tuple((module_key(n), n, tuple(graph.node(n).inputs)) for n in region.nodes),
                leaf=leaf_of.get(region.classifier, -1), output=region.classifier or "", junction=jx,
                router=router_key, reads=graph.junctions[jx].reads if jx >= 0 else "",
                children=tuple(region.children), needs=tuple(tuple(sorted(needs[c])) for c in region.children),
                norms=norms))

    def __call__(self, x: Tensor, k_cpt: Tensor | None, uniforms: Tensor, choose: Choose) -> SampledRun:
        """One sampled forward of the batch ``x``: ``k_cpt`` for routers that read it (a 0-d or ``[B]``
        tensor; None otherwise), ``uniforms [B, J]`` in ``[0, 1)`` (example b draws its sink at junction
        j with ``uniforms[b, j]``), ``choose`` the training policy."""
        model = self.model
        if model.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        n = x.shape[0]
        rows = torch.arange(n, device=x.device)
        per_example = k_cpt is not None and k_cpt.dim() > 0
        leaves, visits = [], []
        leaf_of = torch.empty(n, dtype=torch.long, device=x.device)
        stack = [(0, {model.graph.input_name: x}, rows, x.new_ones(n, dtype=torch.float32), k_cpt)]
        while stack:
            r, values, rows, path_p, k = stack.pop()
            region = self.regions[r]
            for key, name, inputs in region.steps:
                values[name] = _run(model.nodes[key], [values[i] for i in inputs])
            if region.leaf >= 0:
                leaves.append((region.leaf, rows, values[region.output]))
                leaf_of[rows] = region.leaf
                continue
            with _running_statistics(region.norms if len(rows) == 1 else ()):
                scores = model.routers[region.router](values[region.reads], k)
            pi = choose(region.junction, scores.detach().float(), path_p)
            taken = sample_sinks(pi, uniforms[rows, region.junction])
            visits.append(Visit(r, rows, scores, taken, region.junction))
            child_p = path_p * pi.gather(1, taken[:, None]).squeeze(1)
            counts = torch.bincount(taken, minlength=len(region.children)).tolist()
            drawn = [i for i, c in enumerate(counts) if c]
            if len(drawn) == 1:  # everybody went the same way: no copies
                stack.append((region.children[drawn[0]], values, rows, child_p, k))
                continue
            parts = torch.argsort(taken, stable=True).split(counts)
            for i in reversed(drawn):
                part = parts[i]
                sub = {name: _gather(values[name], part) for name in region.needs[i]}
                stack.append((region.children[i], sub, rows.index_select(0, part), child_p.index_select(0, part),
                              k.index_select(0, part) if per_example else k))
        return SampledRun(leaves, visits, leaf_of)


def _gather(value, rows: Tensor):
    if isinstance(value, tuple):  # a pyramid's levels
        return tuple(None if v is None else gather_rows(v, rows) for v in value)
    return gather_rows(value, rows)


def _run(module: nn.Module, inputs: list):
    """``module(*inputs)``; a training-mode batch norm that would see one value per channel uses its
    running statistics instead (batch statistics of one value are undefined)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training:
        x = inputs[0]
        if x.numel() <= x.shape[1]:
            with _running_statistics((module,)):
                return module(*inputs)
    return module(*inputs)


@contextmanager
def _running_statistics(norms):
    """Batch-norm layers ``norms`` in eval mode for the duration (running statistics, not updated)."""
    changed = [m for m in norms if m.training]
    for m in changed:
        m.training = False
    try:
        yield
    finally:
        for m in changed:
            m.training = True
