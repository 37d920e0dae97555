"""The inference benchmark's networks and forced exits: the routed eight-layer chain
and its static twin, exit mixes with a chosen mean op count, and the ``force=``
decisions that send each example to its exit."""
from __future__ import annotations

import math

import torch

from chain import load_chain
from routegraph.graph import static_baseline
from routegraph.infer import route
from routegraph.nn import build_model


def models():
    """The routed chain (eval mode, non-trivial BN statistics) and its static full network
    with the same node weights."""
    graph, source = load_chain()
    torch.manual_seed(0)
    routed = build_model(graph)
    with torch.no_grad():
        for module in routed.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    routed.eval()
    static = static_twin(routed)
    return graph, source, routed, static


def static_twin(routed):
    """The static full network (deepest classifier, no routers) with ``routed``'s weights."""
    graph = routed.graph
    static = build_model(static_baseline(graph, graph.classifiers[-1]))
    own = static.state_dict()
    static.load_state_dict({k: v for k, v in routed.state_dict().items() if k in own})
    return static.eval()


def exit_mix(graph, full_ops: float, target: float, n: int, seed: int = 0):
    """Exit classifier per example, geometric over the chain's exits (p_i ~ r**i), with r
    chosen so that the mean routed ops (routers included) is ``target * full_ops``."""
    ops = torch.tensor([p.ops for p in graph.paths], dtype=torch.float64)
    L = len(ops)
    lo, hi = 1e-4, 1e4
    for _ in range(200):
        r = math.sqrt(lo * hi)
        p = r ** torch.arange(L, dtype=torch.float64)
        p /= p.sum()
        if float((p * ops).sum()) > target * full_ops:
            hi = r
        else:
            lo = r
    counts = torch.floor(p * n).long()
    # hand out the remainder to keep the mean closest to the target
    while counts.sum() < n:
        best = min(range(L), key=lambda i: abs(float(((counts + torch.eye(L, dtype=torch.long)[i]).double() * ops).sum()) / n
                                               - target * full_ops))
        counts[best] += 1
    gen = torch.Generator().manual_seed(seed)
    exits = torch.repeat_interleave(torch.arange(L), counts)[torch.randperm(n, generator=gen)]
    return exits


def force_for(graph, exits: torch.Tensor) -> dict[str, torch.Tensor]:
    force = {j.name: torch.zeros(len(exits), dtype=torch.long) for j in graph.junctions}
    for e in exits.unique().tolist():
        rows = exits == e
        for junction, sink in graph.paths[e].decisions:
            force[junction][rows] = sink
    return force


def batch_fns(routed, static, x, force, batch: int):
    """(routed call, static call) processing ``x``: one call per ``batch`` images (batch 1: singles)."""
    if batch == 1:
        singles = [(x[i:i + 1], {j: d[i:i + 1] for j, d in force.items()} if force else None) for i in range(len(x))]

        def fr():
            for xi, fi in singles:
                route(routed, xi, force=fi)

        def fs():
            for xi, _ in singles:
                route(static, xi)
        return fr, fs
    return (lambda: route(routed, x, force=force)), (lambda: route(static, x))
