"""Geometry of the dataflow node-link diagrams (paper Figs. 6-7), without drawing.

Each classifier sits at its *layer index* (x) and a tree position (y).

- The layer index comes from the compiled graph (:mod:`routegraph.graph.layering`):
  it counts the layer-bearing regions (regions owning a node other than a
  classifier) from the root down to the classifier's region. On the 8-layer
  chain the classifier after layer n gets index n; a static baseline keeps the
  index its classifier has in the routed network.
- The tree drawn is that of layer-bearing regions (the *anchors*); every
  classifier hangs at its nearest anchor. Leaves of the anchor tree get
  consecutive y slots (one per classifier hanging there), and a parent sits at
  the mean y of its children, so a chain is a straight line and the 3-way tree
  fans out like Fig. 7. Further classifiers at an inner anchor (a junction
  with several classifier sinks) get slots of their own below its subtree.
- A circle's area is proportional to the fraction of examples classified
  there: ``radius = max_radius * sqrt(fraction)``. A non-zero fraction whose
  circle would be smaller than ``min_radius`` is drawn at ``min_radius`` and
  flagged ``clamped`` (drawn distinctly); a zero fraction is flagged ``empty``.

>>> glyph_radius(0.25, max_radius=0.4, min_radius=0.05)
(0.2, False)
>>> glyph_radius(0.001, max_radius=0.4, min_radius=0.05)
(0.05, True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError, did_you_mean
from ..graph.compiled import CompiledGraph
from ..graph.layering import layer_bearing, region_layers

VARIANTS = ("accuracy", "classes")


@dataclass(frozen=True)
class TreeLayout:
    """Where classifiers and anchors (layer-bearing regions) go; y grows downward."""

    positions: dict[str, tuple[float, float]]  # classifier -> (x = layer index, y)
    layers: dict[str, int]  # classifier -> layer index
    anchors: dict[int, tuple[float, float]]  # anchor region -> (x, y)
    links: tuple[tuple[int, int], ...]  # (parent anchor, child anchor)
    attach: dict[str, int]  # classifier -> its anchor region
    height: float  # number of y slots (>= 1)

    @property
    def max_layer(self) -> int:
        return max(self.layers.values(), default=0)

    @property
    def min_layer(self) -> int:
        return min(self.layers.values(), default=0)


@dataclass(frozen=True)
class Glyph:
    """One classifier's circle: position, size and the pie wedges inside it."""

    classifier: str
    layer: int
    x: float
    y: float
    fraction: float
    radius: float
    clamped: bool  # a small non-zero fraction drawn at the minimum size
    empty: bool  # no example ends here
    wedges: tuple[float, ...]  # wedge sizes (any scale; a pie of these proportions)
    count: int = 0
    accuracy: float | None = None


def check_variant(variant: str) -> str:
    """Validate a ``--dataflow`` variant name (a :class:`ConfigError` names the known ones)."""
    if variant not in VARIANTS:
        hint = did_you_mean(variant, VARIANTS)
        raise ConfigError(f"unknown dataflow variant {variant!r}" + (f"; {hint}" if hint else "")
                          + f" (known: {', '.join(VARIANTS)})")
    return variant


def tree_layout(graph: CompiledGraph) -> TreeLayout:
    """Lay classifiers out as a tree over layer-bearing regions; see the module docstring."""
    layers = region_layers(graph)
    parent_of = {c: r.id for r in graph.regions for c in r.children}

    def anchor_of(region: int) -> int:
        while not layer_bearing(graph, region) and region in parent_of:
            region = parent_of[region]
        return region

    root = anchor_of(0)
    anchors = sorted({root} | {r.id for r in graph.regions if layer_bearing(graph, r.id)})
    anchor_parent = {a: anchor_of(parent_of[a]) for a in anchors if a in parent_of}
    children: dict[int, list[int]] = {a: [] for a in anchors}
    for child, parent in anchor_parent.items():
        children[parent].append(child)
    attach = {p.classifier: anchor_of(p.region) for p in graph.paths}
    hanging: dict[int, list[str]] = {a: [] for a in anchors}
    for classifier, anchor in attach.items():
        hanging[anchor].append(classifier)

    # Depth-first over anchors in region order (which follows sink order).
    ay: dict[int, float] = {}
    classifier_y: dict[str, float] = {}
    next_slot = [0.0]

    def place(anchor: int) -> None:
        kids = sorted(children[anchor])
        own = hanging[anchor]
        if not kids:
            slots = [next_slot[0] + i for i in range(max(1, len(own)))]
            next_slot[0] += len(slots)
            ay[anchor] = sum(slots) / len(slots)
            for name, y in zip(own, slots):
                classifier_y[name] = y
            return
        for kid in kids:
            place(kid)
        ay[anchor] = sum(ay[k] for k in kids) / len(kids)
        # The first classifier sits at the anchor; further ones (a junction with several
        # classifier sinks) get slots of their own below the subtree.
        for i, name in enumerate(own):
            if i == 0:
                classifier_y[name] = ay[anchor]
            else:
                classifier_y[name] = next_slot[0]
                next_slot[0] += 1

    place(root)
    for anchor in anchors:  # anchors unreachable from the root cannot happen, but stay total
        if anchor not in ay:
            place(anchor)
    by_classifier = {c: layers[graph.path(c).region] for c in graph.classifiers}
    return TreeLayout(
        positions={c: (float(by_classifier[c]), classifier_y[c]) for c in graph.classifiers},
        layers=by_classifier,
        anchors={a: (float(layers[a]), ay[a]) for a in anchors},
        links=tuple(sorted((p, c) for c, p in anchor_parent.items())),
        attach=attach,
        height=max(1.0, next_slot[0]),
    )


def glyph_radius(fraction: float, max_radius: float, min_radius: float) -> tuple[float, bool]:
    """``(radius, clamped)``: area proportional to ``fraction``; tiny non-zero fractions at ``min_radius``."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    radius = max_radius * math.sqrt(fraction)
    if fraction <= 0:
        return min_radius, False
    if radius < min_radius:
        return min_radius, True
    return round(radius, 12), False


def dataflow_glyphs(graph: CompiledGraph, evaluation: dict, variant: str = "accuracy", *,
                    layout: TreeLayout | None = None, max_radius: float = 0.42,
                    min_radius: float = 0.07) -> list[Glyph]:
    """One :class:`Glyph` per classifier of ``graph`` from one evaluation record.

    ``variant='accuracy'`` gives wedges (correct, incorrect); ``'classes'`` one
    wedge per class (correct + incorrect examples of that class).
    """
    check_variant(variant)
    layout = layout or tree_layout(graph)
    stats = evaluation.get("classifiers", {})
    missing = [c for c in graph.classifiers if c not in stats]
    if missing and len(missing) == len(graph.classifiers):
        raise ConfigError(f"the evaluation has no statistics for this network's classifiers "
                          f"({', '.join(graph.classifiers[:3])}{', ...' if len(graph.classifiers) > 3 else ''})")
    n_total = evaluation.get("n") or sum(int(s.get("count", 0)) for s in stats.values())
    glyphs = []
    for classifier in graph.classifiers:
        s = stats.get(classifier, {})
        count = int(s.get("count", 0))
        fraction = float(s["fraction"]) if "fraction" in s else (count / n_total if n_total else 0.0)
        correct = [int(v) for v in s.get("correct_by_class", [])]
        incorrect = [int(v) for v in s.get("incorrect_by_class", [])]
        accuracy = s.get("accuracy")
        if variant == "accuracy":
            if correct or incorrect:
                wedges = (float(sum(correct)), float(sum(incorrect)))
            elif accuracy is not None:
                wedges = (float(accuracy), 1.0 - float(accuracy))
            else:
                wedges = ()
        else:
            width = max(len(correct), len(incorrect))
            wedges = tuple(float((correct[i] if i < len(correct) else 0) + (incorrect[i] if i < len(incorrect) else 0))
                           for i in range(width))
        if sum(wedges) <= 0:
            wedges = ()
        radius, clamped = glyph_radius(fraction, max_radius, min_radius)
        x, y = layout.positions[classifier]
        glyphs.append(Glyph(classifier, layout.layers[classifier], x, y, fraction, radius, clamped,
                            fraction <= 0, wedges, count, None if accuracy is None else float(accuracy)))
    return glyphs
