"""Layer index: where a classifier sits in the network, from the compiled graph's regions.

A region is *layer-bearing* if it owns a node other than a classifier. The
layer index of a region counts the layer-bearing regions from the root down
to it (itself included); a classifier takes the index of its region. On the
8-layer chain the classifier after layer n gets index n -- also ``l8.exit``,
which shares its region with layer 8, while the *number of routing decisions*
on its path is 7, like ``l7.exit``'s. That count is not a layer index.

A static baseline (:func:`~routegraph.graph.static.static_baseline`) has a
single region; it keeps the index its classifier had in the routed network
(``params['static_layer']``). Baselines saved before that parameter existed
carry ``static_depth``, the number of routing decisions, which is used as the
best guess there (one less than the layer index for a classifier that shares
its region with layers).

>>> from routegraph import load_spec, compile_spec                    # doctest: +SKIP
>>> classifier_layers(compile_spec(load_spec("specs/tiny_chain.yaml")))  # doctest: +SKIP
{'l1.exit': 1, 'l2.exit': 2, 'l3.exit': 3}
"""
from __future__ import annotations

from .compiled import CompiledGraph

#: Graph parameter of a static baseline: the layer index of its classifier in the routed network.
STATIC_LAYER = "static_layer"
_LEGACY_STATIC_DEPTH = "static_depth"  # runs saved before STATIC_LAYER: number of routing decisions


def layer_bearing(graph: CompiledGraph, region: int) -> bool:
    """Whether ``region`` owns a node other than a classifier."""
    return any(graph.node(n).kind != "classifier" for n in graph.regions[region].nodes)


def _static_layer(graph: CompiledGraph) -> int | None:
    if len(graph.regions) != 1 or "static_of" not in graph.params:
        return None
    for key in (STATIC_LAYER, _LEGACY_STATIC_DEPTH):
        value = graph.params.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(1, value)
    return None


def region_layers(graph: CompiledGraph) -> dict[int, int]:
    """Layer index of every region (regions are stored parents first)."""
    fixed = _static_layer(graph)
    if fixed is not None:
        return {graph.regions[0].id: fixed}
    index: dict[int, int] = {}
    parent_of = {c: r.id for r in graph.regions for c in r.children}
    for region in graph.regions:
        above = index[parent_of[region.id]] if region.id in parent_of else 0
        index[region.id] = above + (1 if layer_bearing(graph, region.id) else 0)
    return index


def classifier_layers(graph: CompiledGraph) -> dict[str, int]:
    """Layer index of every classifier, in path order (1-based on the chain)."""
    layers = region_layers(graph)
    return {p.classifier: layers[p.region] for p in graph.paths}


def has_static_layer(graph: CompiledGraph) -> bool:
    """Whether ``graph`` is a static baseline that records its classifier's layer index
    (False for routed graphs and for baselines saved before ``static_layer`` existed)."""
    return len(graph.regions) == 1 and "static_of" in graph.params and STATIC_LAYER in graph.params
