"""Statically-routed baselines derived from a routed graph.

The baseline for a classifier keeps exactly the nodes on that classifier's
path and drops every junction and router: on the chain, the baseline for the
exit after layer n is "the first n layers plus that classifier" of the paper.
Its ``params`` name the routed graph (``static_of``) and the classifier's layer
index there (``static_layer``, n on the chain; see :mod:`.layering`).

>>> from routegraph import load_spec, compile_spec              # doctest: +SKIP
>>> routed = compile_spec(load_spec("specs/chain_8layer.yaml"))  # doctest: +SKIP
>>> [g.total_ops for g in static_baselines(routed).values()][:2] # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import replace

from ..errors import ConfigError, unknown_name
from .compiled import CompiledGraph, PathInfo, Region
from .layering import STATIC_LAYER, classifier_layers


def static_baseline(graph: CompiledGraph, classifier: str) -> CompiledGraph:
    """The static network made of ``classifier``'s path, without routers."""
    if classifier not in graph.classifiers:
        raise unknown_name("classifier", classifier, graph.classifiers)
    path = graph.path(classifier)
    keep = set(path.nodes)
    nodes = tuple(replace(n, region=0) for n in graph.nodes if n.name in keep)
    ops = sum(n.ops for n in nodes)
    root = Region(id=0, parent=None, decisions=(), nodes=tuple(n.name for n in nodes), junction=None,
                  classifier=classifier, ops=ops, children=(), leaves=1)
    only_path = PathInfo(classifier=classifier, region=0, decisions=(), regions=(0,),
                         nodes=root.nodes, junctions=(), ops=ops)
    # The layer index the classifier has in the routed network (not its number of routing
    # decisions: l7.exit and l8.exit of the chain both have 7).
    params = {**graph.params, "static_of": graph.name, STATIC_LAYER: classifier_layers(graph)[classifier]}
    return replace(graph, name=f"{graph.name}.static.{classifier}", nodes=nodes, junctions=(),
                   regions=(root,), paths=(only_path,), params=params, k_cpt_input=False)


def static_classifier(graph: CompiledGraph, choice: str | int | None) -> str:
    """The classifier a static baseline ends at: a name, a 1-based index in path order, or None (the last)."""
    if choice in (None, ""):
        return graph.classifiers[-1]
    names = graph.classifiers
    if isinstance(choice, int) or str(choice).isdigit():
        if not 1 <= int(choice) <= len(names):
            raise ConfigError(f"static exit {choice}: the network has {len(names)} classifiers "
                              f"(allowed: 1..{len(names)}, or a name: {', '.join(names)})")
        return names[int(choice) - 1]
    if choice not in names:
        raise unknown_name("classifier", str(choice), names)
    return str(choice)


def static_baselines(graph: CompiledGraph) -> dict[str, CompiledGraph]:
    """One baseline per classifier, in path order."""
    return {c: static_baseline(graph, c) for c in graph.classifiers}
