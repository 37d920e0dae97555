"""Routing structure: regions (sets of nodes that run under the same decisions)
and the path table.

A node's *condition* is the tuple of ``(junction, sink)`` decisions under which
it runs. The input runs unconditionally. A sink ``i`` of junction ``j`` runs
under ``cond(j) + ((j, i),)``; any other node runs under the longest condition
of its inputs, which must all lie on one chain (a node must not mix tensors
from two different sinks of a junction). Nodes with the same condition form a
region; the conditions form a tree, the *region tree*.
"""
from __future__ import annotations

from .compiled import PathInfo, Region


def _describe(cond) -> str:
    return " and ".join(f"{j} -> sink {i}" for j, i in cond) if cond else "always"


def _is_prefix(a: tuple, b: tuple) -> bool:
    return b[: len(a)] == a


def build_regions(compiler, order):
    """Assign every node and junction to a region; report malformed routing.

    Returns ``(records, node_region, junction_region, sink_regions)`` where
    ``records`` are mutable dicts later frozen by :func:`build_paths`.
    """
    specs, sink_of = compiler.specs, compiler.sink_of
    cond = {compiler.spec.input.name: ()}
    records = [_record(0, None, ())]
    region_of = {(): 0}
    node_region, junction_region, sink_regions = {}, {}, {}
    mixed = False  # after a mixing error, missing-classifier reports would only be echoes
    for name in order:
        node = specs[name]
        if node.kind == "junction":
            c = cond.get(node.router.reads)
            if c is None:
                continue
            rid = region_of[c]
            if records[rid]["junction"]:
                compiler.problem(name, "router.reads",
                                 f"junction {name!r} routes the same examples as junction {records[rid]['junction']!r} (both run {_describe(c)})",
                                 "one junction per region: route from a sink of the other junction")
                continue
            records[rid]["junction"] = name
            cond[name], junction_region[name] = c, rid
            children = []
            for i in range(len(node.sinks)):
                child = c + ((name, i),)
                region_of[child] = len(records)
                records.append(_record(len(records), (name, i), child))
                children.append(region_of[child])
            records[rid]["children"] = children
            sink_regions[name] = tuple(children)
            continue
        refs = compiler.inputs_of(node)
        if any(r not in cond for r in refs):
            continue
        if name in sink_of:
            j = sink_of[name]
            if j not in cond:
                continue
            for k, r in enumerate(refs):
                if not _is_prefix(cond[r], cond[j]):
                    suffix = "input" if isinstance(node.input, str) else f"input.{k}"
                    compiler.problem(name, suffix,
                                     f"{name!r}, a sink of junction {j!r}, reads {r!r}, which runs only when {_describe(cond[r])}",
                                     f"tensors computed before {j!r} ({_describe(cond[j])})")
                    mixed = True
            c = cond[j] + ((j, specs[j].sinks.index(name)),)
        else:
            c = max((cond[r] for r in refs), key=len)
            for k, r in enumerate(refs):
                if not _is_prefix(cond[r], c):
                    other = next(x for x in refs if cond[x] == c)
                    compiler.problem(name, "input",
                                     f"{name!r} mixes tensors from different routes: {other!r} runs when {_describe(c)}, "
                                     f"{r!r} when {_describe(cond[r])}",
                                     "inputs that run together: all on one route")
                    mixed = True
                    break
        cond[name] = c
        rid = region_of[c]
        node_region[name] = rid
        records[rid]["nodes"].append(name)
        if node.kind == "classifier":
            if records[rid]["classifier"]:
                compiler.problem(name, "", f"classifiers {records[rid]['classifier']!r} and {name!r} both run {_describe(c)}",
                                 "exactly one classifier per route")
            else:
                records[rid]["classifier"] = name
    _check_leaves(compiler, records, order, routes_valid=not mixed)
    return records, node_region, junction_region, sink_regions


def _record(rid, parent, decisions) -> dict:
    return {"id": rid, "parent": parent, "decisions": decisions, "nodes": [], "junction": None,
            "classifier": None, "children": []}


def _check_leaves(compiler, records, order, routes_valid: bool = True) -> None:
    specs = compiler.specs
    consumers: dict[str, list[str]] = {n: [] for n in order}
    for name in order:
        node = specs[name]
        reads = [node.router.reads] if node.kind == "junction" else compiler.inputs_of(node)
        for r in reads:
            consumers.setdefault(r, []).append(name)
    for name in order:
        kind = specs[name].kind
        if kind == "classifier" and consumers[name]:
            compiler.problem(name, "", f"classifier {name!r} is read by {consumers[name][0]!r}", "classifiers are leaves")
        elif kind not in ("classifier", "junction") and not consumers[name]:
            compiler.problem(name, "", f"{name!r} ({kind}) is a leaf but not a classifier: nothing reads it",
                             "every leaf is a classifier; read it or remove it")
    for rec in records:
        if rec["junction"] and rec["classifier"]:
            compiler.problem(rec["classifier"], "",
                             f"classifier {rec['classifier']!r} runs together with junction {rec['junction']!r} ({_describe(rec['decisions'])})",
                             "a classifier ends its route: make it a sink of the junction")
        elif not rec["junction"] and not rec["classifier"] and routes_valid:
            where = rec["parent"][0] if rec["parent"] else next(iter(specs), None)
            suffix = f"sinks.{rec['parent'][1]}" if rec["parent"] else ""
            if where is not None:
                compiler.problem(where, suffix, f"the route {_describe(rec['decisions'])} ends without a classifier",
                                 "every root-to-leaf path ends at a classifier")


def build_paths(records, nodes, junctions):
    """Freeze regions (with ops and leaf counts) and build one path per classifier."""
    ops = [0] * len(records)
    for node in nodes:
        ops[node.region] += node.ops
    for junction in junctions:
        ops[junction.region] += junction.ops
    leaves = [0] * len(records)
    for rec in reversed(records):
        leaves[rec["id"]] = 1 if not rec["children"] else sum(leaves[c] for c in rec["children"])
    regions = tuple(
        Region(id=r["id"], parent=r["parent"], decisions=tuple(r["decisions"]), nodes=tuple(r["nodes"]),
               junction=r["junction"], classifier=r["classifier"], ops=ops[r["id"]],
               children=tuple(r["children"]), leaves=leaves[r["id"]])
        for r in records
    )
    parent_region = {}
    for region in regions:
        for child in region.children:
            parent_region[child] = region.id
    paths = []
    for node in nodes:
        if node.kind != "classifier":
            continue
        chain, r = [], node.region
        while r is not None:
            chain.append(r)
            r = parent_region.get(r)
        chain = tuple(reversed(chain))
        members = set(chain)
        paths.append(PathInfo(
            classifier=node.name, region=node.region, decisions=regions[node.region].decisions,
            regions=chain, nodes=tuple(n.name for n in nodes if n.region in members),
            junctions=tuple(j.name for j in junctions if j.region in members),
            ops=sum(regions[r].ops for r in chain),
        ))
    return regions, tuple(paths)
