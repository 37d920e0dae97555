"""The compiled graph: plain, frozen, JSON-serialisable data.

A spec compiles to a :class:`CompiledGraph` before any torch module exists.
It holds every node's shapes, operation count and parameter count, the
*region tree* that routing induces, and the path table.

Regions. Region 0 is the root: nodes that run for every example. Sink ``i`` of
junction ``j`` opens region ``(j, i)``: nodes that run only when ``j`` picks
``i``. Regions form a tree. Each region ends either in exactly one junction
(whose sinks open its child regions) or in exactly one classifier (a leaf).
A route through the network is a root-to-leaf chain of regions, so a *path*
is identified by its classifier.

Operation counts follow the reference convention: multiply-accumulates of
convolutions and linear layers only, kernels clipped to the map size. A
junction's router ops are charged to the region the junction sits in, i.e. to
the layer whose output it routes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import CheckpointError
from ..imports import DEFAULT_ALLOWED
from ..k_cpt import K_CPT_INPUT_SCALE
from ..kinds.shapes import PyramidShape, Shape, TensorShape  # noqa: F401  (their home is kinds/)

#: The ``format`` compiled.json says; checked on load.
COMPILED_FORMAT = "routegraph.compiled/1"

#: Bytes per parameter and per activation value: modules are built in float32.
PARAM_BYTES = 4


def shape_to_json(shape: Shape) -> Any:
    if isinstance(shape, PyramidShape):
        return {"pyramid": [list(level.dims) for level in shape.levels]}
    return list(shape.dims)


def shape_from_json(data: Any) -> Shape:
    if isinstance(data, dict):
        return PyramidShape(tuple(TensorShape(tuple(level)) for level in data["pyramid"]))
    return TensorShape(tuple(data))


@dataclass(frozen=True)
class SourceLoc:
    """Where a node was written: file, line, column (1-based) and dotted spec path."""

    file: str = "<spec>"
    line: int = 0
    col: int = 0
    path: str = ""


@dataclass(frozen=True)
class CompiledLayer:
    """One primitive layer: a graph node's computation or one step of a router."""

    kind: str
    config: dict[str, Any]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    ops: int
    params: int


@dataclass(frozen=True)
class CompiledNode:
    """A graph node (a primitive layer or a classifier): its ``layer`` (what it computes),
    its ``inputs`` and its place in the region tree. The layer's fields read through
    (``node.kind``, ``node.config``, ``node.ops``...); compiled.json writes them flat.

    >>> node = CompiledNode("fc", ("x",), CompiledLayer("linear", {"features": 2}, (TensorShape((3,)),),
    ...                     TensorShape((2,)), 6, 8), region=0)
    >>> node.kind, node.ops, node.layer.out_shape
    ('linear', 6, TensorShape(dims=(2,)))
    """

    name: str
    inputs: tuple[str, ...]
    layer: CompiledLayer
    region: int
    loc: SourceLoc = field(default_factory=SourceLoc)

    kind = property(lambda self: self.layer.kind)
    config = property(lambda self: self.layer.config)
    in_shapes = property(lambda self: self.layer.in_shapes)
    out_shape = property(lambda self: self.layer.out_shape)
    ops = property(lambda self: self.layer.ops)
    params = property(lambda self: self.layer.params)

    def to_json(self) -> dict[str, Any]:
        """compiled.json's node entry: the layer's fields flat, in their documented order
        (docs/compiled-graph.md)."""
        layer = _layer_json(self.layer)
        return {"name": self.name, "kind": layer.pop("kind"), "inputs": list(self.inputs), **layer,
                "region": self.region, "loc": asdict(self.loc)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CompiledNode":
        fields_ = {k: data[k] for k in CompiledLayer.__dataclass_fields__}
        return cls(data["name"], tuple(data["inputs"]), _layer_from_json(fields_), data["region"],
                   SourceLoc(**data["loc"]))


@dataclass(frozen=True)
class CompiledJunction:
    """An n-way junction: its router (a layer sequence reading ``reads``) and its sinks."""

    name: str
    reads: str
    sinks: tuple[str, ...]
    router: tuple[CompiledLayer, ...]
    router_in: Shape
    ops: int
    params: int
    region: int
    sink_regions: tuple[int, ...]
    loc: SourceLoc = field(default_factory=SourceLoc)


@dataclass(frozen=True)
class Region:
    """A set of nodes that run under the same routing decisions."""

    id: int
    parent: tuple[str, int] | None  # (junction, sink index) that opens it; None for the root
    decisions: tuple[tuple[str, int], ...]  # every (junction, sink) on the way from the root
    nodes: tuple[str, ...]  # nodes owned by this region, in topological order
    junction: str | None  # the junction that ends this region, or
    classifier: str | None  # the classifier that ends it
    ops: int  # ops of owned nodes plus the ending junction's router
    children: tuple[int, ...]  # sink regions of the ending junction, in sink order
    leaves: int  # number of leaf regions at or below this one


@dataclass(frozen=True)
class PathInfo:
    """One root-to-classifier route."""

    classifier: str
    region: int
    decisions: tuple[tuple[str, int], ...]
    regions: tuple[int, ...]  # root first
    nodes: tuple[str, ...]  # every node that runs, topological order
    junctions: tuple[str, ...]  # every junction whose router runs
    ops: int


@dataclass(frozen=True)
class CompiledGraph:
    """A compiled, validated routed network. Build torch modules from it with
    :func:`routegraph.build_model`.
    """

    name: str
    input_name: str
    input_shape: TensorShape
    nodes: tuple[CompiledNode, ...]  # topological order
    junctions: tuple[CompiledJunction, ...]  # topological order
    regions: tuple[Region, ...]  # parents before children; regions[0] is the root
    paths: tuple[PathInfo, ...]  # one per classifier, in classifier order
    params: dict[str, Any] = field(default_factory=dict)
    k_cpt_input: bool = False  # routers read k_cpt_scale * k_cpt as an extra input (dynamic k_cpt)
    k_cpt_scale: float = K_CPT_INPUT_SCALE  # see routegraph.k_cpt; saved only when not the default
    source: str = ""
    # what build_model may import for module nodes; never saved (a run's reader grants its own)
    allow_import: tuple[str, ...] = DEFAULT_ALLOWED

    # -- lookups ---------------------------------------------------------
    def node(self, name: str) -> CompiledNode:
        return self._index()[0][name]

    def junction(self, name: str) -> CompiledJunction:
        return self._index()[1][name]

    def path(self, classifier: str) -> PathInfo:
        return self._index()[2][classifier]

    def _index(self):
        cached = self.__dict__.get("_cache")
        if cached is None:
            cached = (
                {n.name: n for n in self.nodes},
                {j.name: j for j in self.junctions},
                {p.classifier: p for p in self.paths},
            )
            object.__setattr__(self, "_cache", cached)
        return cached

    @property
    def classifiers(self) -> tuple[str, ...]:
        return tuple(p.classifier for p in self.paths)

    @property
    def num_classes(self) -> int:
        return self.node(self.paths[0].classifier).config["classes"]

    @property
    def total_ops(self) -> int:
        """Ops of every node and router (what dense evaluation computes)."""
        return sum(n.ops for n in self.nodes) + sum(j.ops for j in self.junctions)

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes) + sum(j.params for j in self.junctions)

    @property
    def param_bytes(self) -> int:
        """Memory of the parameters as built (float32)."""
        return PARAM_BYTES * self.total_params

    @property
    def activation_bytes(self) -> int:
        """Memory of every node's output for one example (float32): what a dense forward
        pass keeps per example for the backward pass, roughly."""
        return PARAM_BYTES * sum(sum(l.numel for l in n.out_shape.levels) if isinstance(n.out_shape, PyramidShape)
                                 else n.out_shape.numel for n in self.nodes)

    def subtree_regions(self, region: int) -> tuple[int, ...]:
        """The region and every region below it, parents first."""
        out, stack = [], [region]
        while stack:
            r = stack.pop()
            out.append(r)
            stack.extend(reversed(self.regions[r].children))
        return tuple(sorted(out))

    # -- JSON ------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; see docs/compiled-graph.md for its schema."""
        # the scale is written only when not the default, so that compiled.json and the
        # fingerprint of every graph saved before it was a setting stay the same
        scale = {} if self.k_cpt_scale == K_CPT_INPUT_SCALE else {"k_cpt_scale": self.k_cpt_scale}
        return {
            "format": COMPILED_FORMAT,
            "name": self.name,
            "input_name": self.input_name,
            "input_shape": list(self.input_shape.dims),
            "params": self.params,
            "k_cpt_input": self.k_cpt_input,
            **scale,
            "source": self.source,
            "total_ops": self.total_ops,
            "total_params": self.total_params,
            "nodes": [n.to_json() for n in self.nodes],
            "junctions": [
                {**_plain(j), "router": [_layer_json(l) for l in j.router], "router_in": shape_to_json(j.router_in)}
                for j in self.junctions
            ],
            "regions": [_plain(r) for r in self.regions],
            "paths": [_plain(p) for p in self.paths],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "compiled.json") -> "CompiledGraph":
        """The graph of a compiled.json's content ``data``; a :class:`~routegraph.errors.CheckpointError`
        naming ``where`` when its ``format`` is not :data:`COMPILED_FORMAT`.

        >>> CompiledGraph.from_json({"format": "routegraph.compiled/0"}, "run/compiled.json")
        Traceback (most recent call last):
        routegraph.errors.CheckpointError: run/compiled.json: not a routegraph compiled graph (format 'routegraph.compiled/0', expected 'routegraph.compiled/1')
        """
        found = data.get("format") if isinstance(data, dict) else None
        if found != COMPILED_FORMAT:
            raise CheckpointError(f"{where}: not a routegraph compiled graph (format {found!r}, "
                                  f"expected {COMPILED_FORMAT!r})")
        nodes = tuple(CompiledNode.from_json(n) for n in data["nodes"])
        junctions = tuple(
            CompiledJunction(
                **{
                    **j,
                    "sinks": tuple(j["sinks"]),
                    "router": tuple(_layer_from_json(l) for l in j["router"]),
                    "router_in": shape_from_json(j["router_in"]),
                    "sink_regions": tuple(j["sink_regions"]),
                    "loc": SourceLoc(**j["loc"]),
                }
            )
            for j in data["junctions"]
        )
        regions = tuple(
            Region(
                **{
                    **r,
                    "parent": tuple(r["parent"]) if r["parent"] else None,
                    "decisions": tuple(tuple(d) for d in r["decisions"]),
                    "nodes": tuple(r["nodes"]),
                    "children": tuple(r["children"]),
                }
            )
            for r in data["regions"]
        )
        paths = tuple(
            PathInfo(
                **{
                    **p,
                    "decisions": tuple(tuple(d) for d in p["decisions"]),
                    "regions": tuple(p["regions"]),
                    "nodes": tuple(p["nodes"]),
                    "junctions": tuple(p["junctions"]),
                }
            )
            for p in data["paths"]
        )
        return cls(
            name=data["name"],
            input_name=data["input_name"],
            input_shape=TensorShape(tuple(data["input_shape"])),
            nodes=nodes,
            junctions=junctions,
            regions=regions,
            paths=paths,
            params=data.get("params", {}),
            k_cpt_input=data.get("k_cpt_input", False),
            k_cpt_scale=float(data.get("k_cpt_scale", K_CPT_INPUT_SCALE)),
            source=data.get("source", ""),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    def fingerprint(self) -> str:
        """sha256 of the graph without where it was written (``source``, every ``loc``): equal
        for graphs that compute the same thing, whatever file, line or comment they came from."""
        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k not in ("source", "loc")}
            return [strip(v) for v in value] if isinstance(value, list) else value

        blob = json.dumps(strip(self.to_json()), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def _layer_json(layer: CompiledLayer) -> dict[str, Any]:
    return {"kind": layer.kind, "config": layer.config, "in_shapes": [shape_to_json(s) for s in layer.in_shapes],
            "out_shape": shape_to_json(layer.out_shape), "ops": layer.ops, "params": layer.params}


def _layer_from_json(data: dict[str, Any]) -> CompiledLayer:
    return CompiledLayer(data["kind"], data["config"], tuple(shape_from_json(s) for s in data["in_shapes"]),
                         shape_from_json(data["out_shape"]), data["ops"], data["params"])


def _plain(obj) -> dict:
    """asdict() without the TensorShape/PyramidShape wrapping (kept for :func:`_layer_json`)."""
    out = {}
    for key in obj.__dataclass_fields__:
        value = getattr(obj, key)
        if key in ("router", "router_in"):
            out[key] = value
        elif hasattr(value, "__dataclass_fields__"):
            out[key] = asdict(value)
        elif isinstance(value, tuple):
            out[key] = [list(v) if isinstance(v, tuple) else v for v in value]
        else:
            out[key] = value
    return out
