"""Pydantic models of the spec language (no torch here).

A spec file is validated in two stages (see :mod:`routegraph.spec.loader`):
templates and ``${...}`` expressions are expanded first, then every node is
validated against the models below. Every model forbids unknown keys.

The layer kinds' models live with their kinds (:mod:`routegraph.kinds`);
what validates a node is derived from the kind registry when it is used
(:func:`spec_types`), so a kind registered later is included. A layer kind
appears as a graph node (its model plus ``name`` and ``input``) or as a step
of a router or block (without them); ``junction`` is the compiler's own node
and ``classifier`` a ``node_only`` kind (never a router step).

``LAYER_MODELS``, ``LAYER_KINDS``, ``ROUTER_LAYER_KINDS``, ``NODE_MODELS``,
``NODE_KINDS``, ``LayerSpec``, ``NodeSpec`` and the model classes by name
(``Conv2dNode``...) stay importable from here: each is derived on access.

>>> spec_types().router_kinds
('conv2d', 'linear', 'batchnorm', 'relu', 'maxpool', 'select_scale', 'flatten', 'layernorm', 'gelu', ...)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, create_model

from ..imports import DEFAULT_ALLOWED
from ..kinds import registry as _registry
from ..kinds.classifier import ClassifierNode  # noqa: F401  (a node_only kind; re-exported)
from ..kinds.fields import (  # noqa: F401  (re-exported: their home is kinds/fields.py)
    MAX_INT, NAME_PATTERN, Bool, Float, Init, Int, Name, NonNegInt, PosInt, Strict, spec_float, spec_int,
)


# ---------------------------------------------------------------- graph nodes
class NodeFields(Strict):
    name: Name
    input: Name | Annotated[list[Name], Field(min_length=1)] = Field(description="name(s) of the tensor(s) this node reads")


class RouterSpec(Strict):
    """The small subnetwork that scores a junction's sinks.

    Its last layer must be ``linear`` with one output per sink; it starts at zero.
    Give either ``layers`` inline or the name of a ``block``.
    """

    reads: Name = Field(description="the tensor the router reads (e.g. a global descriptor)")
    # typed with the registered kinds in spec_types(); this base documents the fields
    layers: list[dict[str, Any]] | None = Field(None, description="the router's layers, last one linear with n_sinks outputs")
    block: str | None = Field(None, description="name of a layer sequence under top-level 'blocks'")


class JunctionNode(Strict):
    """An n-way junction: exactly one sink runs, picked by the router (argmax at inference)."""

    kind: Literal["junction"]
    name: Name
    router: RouterSpec = Field(description="the subnetwork that scores the sinks")
    sinks: Annotated[list[Name], Field(min_length=2, description="ordered sink nodes; one runs")]


# ---------------------------------------------------------------- derived from the registry
@dataclass(frozen=True)
class SpecTypes:
    """The spec's kind-dependent types, for one state of the kind registry."""

    layer_models: tuple[type, ...]   # router and block steps
    node_models: tuple[type, ...]    # graph nodes, junction included
    layer_kinds: tuple[str, ...]
    router_kinds: tuple[str, ...]
    node_kinds: tuple[str, ...]
    layer_union: Any
    node_union: Any
    node_adapter: TypeAdapter


#: Derived RouterSpec/JunctionNode classes by their unique qualified name, so that pickle finds them.
_DERIVED: dict[str, type] = {}


def _derive(model: type, name: str, doc: str | None, **fields) -> type:
    derived = create_model(name, __base__=model, __module__=__name__, **fields)
    derived.__doc__ = doc
    derived.__qualname__ = f"{name}_{len(_DERIVED)}"
    _DERIVED[derived.__qualname__] = derived
    return derived


def _union(models: tuple[type, ...]) -> Any:
    return Annotated[Union[models], Field(discriminator="kind")]  # the built-ins make it two or more


# Keyed by the kinds' identities (a declaration's callables need not be hashable); each entry
# keeps its kinds alive, so an id is never reused while it is cached.
_NODE_MODELS: dict[int, tuple[Any, type]] = {}
_TYPES: dict[tuple[int, ...], tuple[tuple, "SpecTypes"]] = {}


def _node_model(kind: _registry.LayerKind) -> type:
    """A layer kind's graph-node model: its config plus ``name`` and ``input`` (one class per kind)."""
    if kind.node_only:
        return kind.config
    if id(kind) not in _NODE_MODELS:
        _NODE_MODELS[id(kind)] = (kind, _new_node_model(kind))
    return _NODE_MODELS[id(kind)][1]


def _new_node_model(kind: _registry.LayerKind) -> type:
    name = kind.config.__name__
    name = name[:-5] + "Node" if name.endswith("Layer") else name + "Node"
    model = create_model(name, __base__=(NodeFields, kind.config), __module__=__name__)
    model.__doc__ = kind.config.__doc__
    return model


def _spec_types(kinds: tuple[_registry.LayerKind, ...]) -> SpecTypes:
    layers = tuple(k.config for k in kinds if not k.node_only)
    layer_union = _union(layers)
    router = _derive(RouterSpec, "RouterSpec", RouterSpec.__doc__, layers=(
        list[layer_union] | None, Field(None, description=RouterSpec.model_fields["layers"].description)))
    junction = _derive(JunctionNode, "JunctionNode", JunctionNode.__doc__, router=(
        router, Field(description=JunctionNode.model_fields["router"].description)))
    node_models = tuple(_node_model(k) for k in kinds if not k.node_only) + (junction,) + tuple(
        k.config for k in kinds if k.node_only)
    node_union = _union(node_models)
    layer_kinds = tuple(k.name for k in kinds if not k.node_only)
    return SpecTypes(
        layers, node_models, layer_kinds, tuple(k.name for k in kinds if k.in_router),
        layer_kinds + ("junction",) + tuple(k.name for k in kinds if k.node_only),
        layer_union, node_union, TypeAdapter(node_union),
    )


def spec_types() -> SpecTypes:
    """The types for the kinds registered now (cached per registry state: the TypeAdapter is
    built once for each set of kinds)."""
    kinds = _registry.kinds()
    key = tuple(map(id, kinds))
    if key not in _TYPES:
        if len(_TYPES) >= 8:  # registries seen in tests come and go
            _TYPES.pop(next(iter(_TYPES)))
        _TYPES[key] = (kinds, _spec_types(kinds))
    return _TYPES[key][1]


_VIEWS = {
    "LAYER_MODELS": "layer_models", "LAYER_KINDS": "layer_kinds", "ROUTER_LAYER_KINDS": "router_kinds",
    "NODE_KINDS": "node_kinds", "LayerSpec": "layer_union", "NodeSpec": "node_union",
}


def __getattr__(name: str) -> Any:
    # derived on access, so an old `from routegraph.spec.schema import LAYER_KINDS` still works
    if name in _DERIVED:
        return _DERIVED[name]
    if name not in _VIEWS and name != "NODE_MODELS" and not name.endswith(("Layer", "Node")):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")  # loads no kinds
    types = spec_types()
    if name in _VIEWS:
        return getattr(types, _VIEWS[name])
    if name == "NODE_MODELS":  # the layer kinds' node models, as before
        return tuple(m for m in types.node_models[:len(types.layer_models)])
    for model in types.layer_models + types.node_models:
        if model.__name__ == name and model.__name__ not in ("JunctionNode", "RouterSpec"):
            return model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _validated_nodes(nodes: tuple) -> tuple:
    """Nodes given as mappings are validated with the registered kinds; models pass as they are."""
    adapter = spec_types().node_adapter
    return tuple(n if isinstance(n, Strict) else adapter.validate_python(n) for n in nodes)


class InputSpec(Strict):
    """The single network input."""

    name: Name = "image"
    shape: Annotated[list[PosInt], Field(min_length=1, max_length=3, description="(C, H, W) images, (T, D) sequences or (F,) vectors")]


class UseSpec(Strict):
    """Instantiates a template; its nodes are named ``<as>.<node>``."""

    use: str = Field(description="template name")
    as_: Name = Field(alias="as", description="instance name, prefixed to the template's node names")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="template arguments")


class TemplateSpec(Strict):
    """A reusable, parametrised group of nodes. Inside, ``${arg}`` substitutes arguments."""

    args: list[str] = Field(default_factory=list, description="argument names, bound by 'with' when used")
    nodes: list[dict[str, Any]] = Field(min_length=1, description="nodes and template uses; names are prefixed '<as>.'")


class SpecFile(Strict):
    """The top level of a spec file, before template expansion."""

    name: str = Field(description="the network's name")
    description: str = Field("", description="free text")
    params: dict[str, Int | Float | Bool | str | list[Int | Float]] = Field(
        default_factory=dict, description="named values for ${...} expressions; --set NAME=VALUE replaces them"
    )
    input: InputSpec = Field(description="the network input")
    blocks: dict[str, list[dict[str, Any]]] = Field(default_factory=dict, description="named layer sequences, e.g. routers")
    templates: dict[str, TemplateSpec] = Field(default_factory=dict, description="named, parametrised node groups")
    nodes: list[dict[str, Any]] = Field(min_length=1, description="the graph: nodes and template uses, in order")


class Spec(Strict):
    """A fully expanded, validated spec: flat nodes, every expression evaluated.

    ``locations`` maps a dotted path of the *expanded* spec (``nodes.3.channels``)
    to ``(line, col, source_path)``: where that value was written in ``file`` and
    the dotted path there (``templates.layer.nodes.0.channels`` for a node that a
    template made). Compile-time errors use it to point at the spec text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    name: str
    description: str = ""
    file: str = "<spec>"
    params: dict[str, Any] = Field(default_factory=dict)
    input: InputSpec
    nodes: Annotated[tuple[Any, ...], AfterValidator(_validated_nodes)]
    locations: dict[str, tuple[int, int, str]] = Field(default_factory=dict)
    #: the module prefixes its ``module`` nodes may import (routegraph.imports); compile re-checks them
    allow_import: tuple[str, ...] = DEFAULT_ALLOWED

    def where(self, path: str) -> dict:
        """Location keywords (file, line, col, path) for an expanded dotted path.

        Falls back to the closest recorded parent; the returned ``path`` is the
        path in the source file.
        """
        probe = path
        while probe and probe not in self.locations:
            probe = probe.rpartition(".")[0]
        if not probe:
            return {"file": self.file, "line": 0, "col": 0, "path": path}
        line, col, source = self.locations[probe]
        return {"file": self.file, "line": line, "col": col, "path": source + path[len(probe):]}
