"""A human-readable summary of a compiled graph (what ``routegraph compile`` prints)."""
from __future__ import annotations

from .compiled import CompiledGraph


def format_bytes(n: int) -> str:
    """``"1.5 GB"``: a byte count in decimal units.

    >>> format_bytes(999), format_bytes(32_000_000_000_012)
    ('999 B', '32.0 TB')
    """
    for unit, size in (("EB", 10**18), ("PB", 10**15), ("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} B"


def _region_label(graph: CompiledGraph, region: int) -> str:
    decisions = graph.regions[region].decisions
    return "always" if not decisions else f"{decisions[-1][0]}={decisions[-1][1]}"


def summarize_graph(graph: CompiledGraph) -> str:
    """Nodes (shape, params, ops, when they run), junctions, paths and totals.

    >>> print(summarize_graph(graph))    # doctest: +SKIP
    """
    lines = [f"{graph.name}: {len(graph.nodes)} nodes, {len(graph.junctions)} junctions, "
             f"{len(graph.paths)} paths, input {graph.input_name} {graph.input_shape}", ""]
    width = max([len(n.name) for n in graph.nodes] + [len(j.name) for j in graph.junctions] + [4])
    lines.append(f"{'node':<{width}}  {'kind':<15} {'output':<34} {'params':>10} {'ops':>13}  runs when")
    for node in graph.nodes:
        lines.append(f"{node.name:<{width}}  {node.kind:<15} {str(node.out_shape):<34} {node.params:>10,} "
                     f"{node.ops:>13,}  {_region_label(graph, node.region)}")
    if graph.junctions:
        lines += ["", f"{'junction':<{width}}  {'reads':<{width}} {'router ops':>11} {'params':>8}  sinks"]
        for j in graph.junctions:
            lines.append(f"{j.name:<{width}}  {j.reads:<{width}} {j.ops:>11,} {j.params:>8,}  "
                         + ", ".join(f"{i}:{s}" for i, s in enumerate(j.sinks)))
    lines += ["", f"{'path (classifier)':<{max(width, 17)}}  {'decisions':<40} {'ops':>13} {'of deepest':>10}"]
    deepest = max(p.ops for p in graph.paths)
    for p in graph.paths:
        decisions = " ".join(f"{j}={i}" for j, i in p.decisions) or "-"
        if len(decisions) > 40:
            decisions = "..." + decisions[-37:]
        lines.append(f"{p.classifier:<{max(width, 17)}}  {decisions:<40} {p.ops:>13,} {p.ops / deepest:>10.1%}")
    lines += ["", f"total: {graph.total_params:,} parameters; dense evaluation {graph.total_ops:,} ops; "
              f"cheapest path {min(p.ops for p in graph.paths):,} ops, deepest {deepest:,} ops",
              f"memory (float32): parameters {format_bytes(graph.param_bytes)}; "
              f"node outputs {format_bytes(graph.activation_bytes)} per example",
              "ops = multiply-accumulates of conv and linear layers (routers included; see docs/compiled-graph.md)"]
    return "\n".join(lines)
