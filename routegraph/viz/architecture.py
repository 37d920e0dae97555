"""Architecture diagrams of compiled graphs (graphviz DOT).

>>> dot = architecture_dot(graph)          # doctest: +SKIP
>>> dot.source                             # doctest: +SKIP

Drawing conventions (left to right by depth, like the paper's Figs. 3 and 7):

- the input is a grey box; a layer is a rounded box labelled with its name,
  kind, output shape and op count (multiply-accumulates);
- a classifier is a green, double-bordered box with its classes, its own ops
  and the ops of its whole path; classifiers are the leaves;
- a junction is an orange box with clipped corners, labelled with its arity
  and its router (the layer sequence, what it reads, its ops). A dashed edge
  runs from the tensor the router reads to the junction, and bold orange edges
  labelled with the sink index run from the junction to its sinks;
- a plain edge is a tensor read by a node. Into a junction's sink it is drawn
  dotted and does not constrain the layout, so the layout follows the routing.

``detail='layers'`` merges the nodes of one template instance (the same
dotted name prefix, e.g. ``a.b.l4.conv``/``top``/``desc``) in one region into
one box; ``'auto'`` does so for graphs of more than ``AUTO_NODES`` nodes.
"""
from __future__ import annotations

from dataclasses import dataclass

import graphviz

from ..errors import ConfigError
from ..graph.compiled import CompiledGraph, CompiledLayer, PyramidShape, Shape
from .style import format_ops, plural

AUTO_NODES = 30
DETAILS = ("auto", "nodes", "layers")

FONT = "Helvetica"
JUNCTION_FILL, JUNCTION_LINE = "#fde3c8", "#d9822b"
CLASSIFIER_FILL, CLASSIFIER_LINE = "#d9f2d9", "#3a8f3a"
INPUT_FILL = "#e6e6e6"
KIND_FILL = {
    "conv2d": "#dbe9f6", "multiscale_conv": "#dbe9f6", "linear": "#e6ddf5",
    "batchnorm": "#f4f4f4", "relu": "#f4f4f4", "maxpool": "#f7f3df", "resize": "#f7f3df",
    "pyramid": "#f7f3df", "select_scale": "#f7f3df", "flatten": "#f7f3df", "concat": "#f7f3df", "add": "#f7f3df",
}
SHORT_KIND = {"batchnorm": "bn", "multiscale_conv": "msconv", "select_scale": "select", "classifier": "clf"}


def shape_text(shape: Shape) -> str:
    """``16x4x4``; a pyramid as its finest and coarsest level and its scale count."""
    if isinstance(shape, PyramidShape):
        levels = shape.levels
        if len(levels) == 1:
            return f"[{levels[0]}]"
        return f"[{levels[0]} … {levels[-1]}] ({len(levels)} scales)"
    return str(shape)


def router_text(router: tuple[CompiledLayer, ...], per_line: int = 3) -> str:
    """``linear 16 › bn › relu\\n› linear 2``: a router's layers, a few per line."""
    parts = []
    for layer in router:
        short = SHORT_KIND.get(layer.kind, layer.kind)
        size = layer.config.get("features") or layer.config.get("channels")
        parts.append(f"{short} {size}" if size else short)
    lines = [" › ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
    return "\\n› ".join(lines)


@dataclass
class _Box:
    id: str
    members: list[str]
    region: int


def _groups(graph: CompiledGraph, detail: str) -> dict[str, _Box]:
    """node name -> the box drawing it."""
    sinks = {s for j in graph.junctions for s in j.sinks}
    boxes: dict[tuple, _Box] = {}
    out: dict[str, _Box] = {}
    for node in graph.nodes:
        if detail == "layers" and node.kind != "classifier" and "." in node.name:
            prefix = node.name.rsplit(".", 1)[0]
            key = ("group", prefix, node.region)
            # a sink opens its own box: a routed-to node starts a new layer
            if node.name in sinks and key in boxes:
                key = ("group", node.name, node.region)
        else:
            key = ("node", node.name)
        box = boxes.get(key)
        if box is None:
            box = boxes[key] = _Box(id=node.name if key[0] == "node" else key[1], members=[], region=node.region)
        box.members.append(node.name)
        out[node.name] = box
    return out


def _node_label(graph: CompiledGraph, box: _Box) -> str:
    nodes = [graph.node(n) for n in box.members]
    last = nodes[-1]
    if last.kind == "classifier":
        path = graph.path(last.name)
        return (f"{last.name}\\nclassifier · {last.config.get('classes', '?')} classes"
                f"\\n{format_ops(last.ops)} ops · path {format_ops(path.ops)} ops")
    ops = sum(n.ops for n in nodes)
    if len(nodes) == 1:
        return f"{last.name}\\n{last.kind} · {shape_text(last.out_shape)}\\n{format_ops(ops)} ops"
    kinds = " › ".join(SHORT_KIND.get(n.kind, n.kind) for n in nodes)
    return f"{box.id}\\n{kinds}\\n{shape_text(nodes[0].out_shape)} → {shape_text(last.out_shape)}\\n{format_ops(ops)} ops"


def _line_groups(graph: CompiledGraph) -> dict[int, int]:
    """region -> straight-line group: a region continues its parent's line if it is the
    only sink of the parent's junction that holds layers (so a chain is one straight line,
    and a fork lets graphviz balance its branches)."""
    bearing = {r.id for r in graph.regions if any(graph.node(n).kind != "classifier" for n in r.nodes)}
    group = {0: 0}
    for region in graph.regions:
        own = group.setdefault(region.id, region.id)
        layered = [c for c in region.children if c in bearing]
        for child in region.children:
            group[child] = own if layered == [child] else child
    return group



def _region_text(graph: CompiledGraph, region: int) -> str:
    decisions = graph.regions[region].decisions
    return "runs always" if not decisions else "runs when " + ", ".join(f"{j}={i}" for j, i in decisions)


def architecture_dot(graph: CompiledGraph, *, detail: str = "auto", rankdir: str = "LR",
                     title: bool = True) -> graphviz.Digraph:
    """The architecture diagram of ``graph`` as a :class:`graphviz.Digraph` (see module docstring)."""
    if detail not in DETAILS:
        raise ConfigError(f"unknown diagram detail {detail!r} (known: {', '.join(DETAILS)})")
    if detail == "auto":
        detail = "nodes" if len(graph.nodes) <= AUTO_NODES else "layers"
    boxes = _groups(graph, detail)
    dot = graphviz.Digraph(name=graph.name or "graph")
    dot.attr(rankdir=rankdir, fontname=FONT, fontsize="12", nodesep="0.2", ranksep="0.3", newrank="true")
    if title:
        counts = ", ".join(plural(len(items), noun) for items, noun in
                           ((graph.nodes, "node"), (graph.junctions, "junction"), (graph.paths, "path")))
        dot.attr(label=f"{graph.name}: {counts} · {format_ops(graph.total_ops)} ops dense, "
                       f"{format_ops(graph.total_params)} params", labelloc="t")
    dot.attr("node", fontname=FONT, fontsize="10", shape="box", style="rounded,filled", margin="0.08,0.04")
    dot.attr("edge", fontname=FONT, fontsize="9", color="#555555", arrowsize="0.6")

    dot.node(graph.input_name, f"{graph.input_name}\\ninput · {graph.input_shape}",
             fillcolor=INPUT_FILL, style="filled", group="line0", tooltip="network input")
    line = _line_groups(graph)
    drawn: set[str] = set()
    for node in graph.nodes:
        box = boxes[node.name]
        if box.id in drawn:
            continue
        drawn.add(box.id)
        tip = f"region {box.region}: {_region_text(graph, box.region)}"
        if node.kind == "classifier":
            dot.node(box.id, _node_label(graph, box), fillcolor=CLASSIFIER_FILL, color=CLASSIFIER_LINE,
                     peripheries="2", tooltip=tip)
        else:
            kinds = {graph.node(n).kind for n in box.members}
            fill = KIND_FILL.get(node.kind, "#ffffff")
            if kinds & {"conv2d", "multiscale_conv"}:
                fill = KIND_FILL["conv2d"]
            dot.node(box.id, _node_label(graph, box), fillcolor=fill, group=f"line{line[box.region]}", tooltip=tip)

    sink_of = {s: j for j in graph.junctions for s in j.sinks}
    for j in graph.junctions:
        arity = len(j.sinks)
        label = (f"{j.name} · {arity}-way junction\\nrouter: {router_text(j.router)}"
                 f"\\nreads {j.reads} · {format_ops(j.ops)} ops")
        dot.node(j.name, label, shape="box", style="filled,diagonals", fillcolor=JUNCTION_FILL,
                 color=JUNCTION_LINE, group=f"line{line[j.region]}", tooltip=f"region {j.region}: {_region_text(graph, j.region)}")

    seen_edges: set[tuple[str, str]] = set()

    def box_of(name: str) -> str:
        return boxes[name].id if name in boxes else name

    for node in graph.nodes:
        target = box_of(node.name)
        for source_name in node.inputs:
            source = box_of(source_name)
            if source == target or (source, target) in seen_edges:
                continue
            seen_edges.add((source, target))
            junction = sink_of.get(node.name)
            if junction is None:
                dot.edge(source, target)
            elif detail == "layers" and source == box_of(junction.reads):
                continue  # the route source -> junction -> sink already shows it
            else:
                dot.edge(source, target, style="dotted", constraint="false", color="#999999")
    for j in graph.junctions:
        dot.edge(box_of(j.reads), j.name, style="dashed", color=JUNCTION_LINE, arrowhead="odiamond")
        for i, sink in enumerate(j.sinks):
            dot.edge(j.name, box_of(sink), label=str(i), color=JUNCTION_LINE, fontcolor=JUNCTION_LINE, penwidth="1.6")
    return dot
