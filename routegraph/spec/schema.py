"""Pydantic models of the spec language (no torch here).

A spec file is validated in two stages (see :mod:`routegraph.spec.loader`):
templates and ``${...}`` expressions are expanded first, then every node is
validated against the models below. Every model forbids unknown keys.

Primitive layers (``LAYER_MODELS``) can appear as graph nodes (with ``name``
and ``input``) or as steps of a router sequence (without them).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, field_validator
from pydantic_core import PydanticCustomError

from ..imports import DEFAULT_ALLOWED

#: Largest integer a spec field accepts: torch sizes are 64-bit.
MAX_INT = 2**63 - 1


def _refuse_bool(error_type: str, message: str):
    """A validator refusing ``true``/``false`` where a number is meant (pydantic's lax
    mode would read them as 1 and 0)."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError(error_type, message)
        return value

    return BeforeValidator(check)


_NOT_BOOL_INT = _refuse_bool("int_type", "Input should be a valid integer")
_NOT_BOOL_FLOAT = _refuse_bool("float_type", "Input should be a valid number")


def _only_bool(value: Any) -> Any:
    """Booleans are ``true`` or ``false``, not 1, 0 or ``"yes"``."""
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be true or false")
    return value


def spec_int(**bounds) -> Any:
    """The spec's integer type: never a boolean, and within 64 bits (``bounds``: gt, ge)."""
    if "gt" not in bounds and "ge" not in bounds:
        bounds["ge"] = -MAX_INT
    # constraints before the validator, so they stay plain JSON-schema keywords
    return Annotated[int, Field(le=MAX_INT, **bounds), _NOT_BOOL_INT]


def spec_float(**bounds) -> Any:
    """The spec's number type: an integer or a float, never a boolean."""
    return Annotated[float, Field(**bounds), _NOT_BOOL_FLOAT]


Int = spec_int()
PosInt = spec_int(gt=0)
NonNegInt = spec_int(ge=0)
Float = spec_float()
Bool = Annotated[bool, BeforeValidator(_only_bool)]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="node name: letters, digits, '_', dotted for template instances")]
Init = Literal["xavier", "zeros"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- primitive layers
class Conv2dLayer(Strict):
    """2-D convolution. The kernel is clipped to the map size under 'same' padding."""

    kind: Literal["conv2d"]
    channels: PosInt = Field(description="output channels")
    kernel: PosInt = Field(3, description="square kernel size")
    stride: PosInt = Field(1, description="step between kernel positions")
    padding: Literal["same", "valid"] | NonNegInt = Field("same", description="'same', 'valid' or a pixel count")
    bias: Bool = Field(False, description="add a learned bias")
    init: Init = Field("xavier", description="weight initialisation: 'xavier' or 'zeros'")


class LinearLayer(Strict):
    """Fully connected layer on a flat feature vector."""

    kind: Literal["linear"]
    features: PosInt = Field(description="output features")
    bias: Bool = Field(True, description="add a learned bias")
    init: Init = Field("xavier", description="weight initialisation: 'xavier' or 'zeros'")


class BatchNormLayer(Strict):
    """Batch normalization (BN over channels, or over features of a flat vector)."""

    kind: Literal["batchnorm"]
    eps: spec_float(gt=0) = Field(1e-6, description="added to the variance")
    momentum: spec_float(gt=0, le=1) = Field(0.1, description="PyTorch convention: 0.1 == running-average decay 0.9")


class ReluLayer(Strict):
    """Rectified linear unit (applies to every level of a pyramid)."""

    kind: Literal["relu"]


class MaxPoolLayer(Strict):
    """Max pooling; ``stride`` defaults to ``kernel``."""

    kind: Literal["maxpool"]
    kernel: PosInt = Field(2, description="square window size")
    stride: PosInt | None = Field(None, description="step between windows (default: kernel)")


class ResizeLayer(Strict):
    """Parameter-free bilinear resize to ``size`` x ``size`` pixels."""

    kind: Literal["resize"]
    size: PosInt = Field(description="output height and width in pixels")
    antialias: Bool = Field(False, description="antialias when shrinking")


class PyramidLayer(Strict):
    """Builds an image pyramid by bilinear resizing, finest first (e.g. [32, 16, 8, 4])."""

    kind: Literal["pyramid"]
    sizes: Annotated[list[PosInt], Field(min_length=1)] = Field(description="level sizes in pixels, finest first")
    antialias: Bool = Field(False, description="antialias when shrinking")


class MultiscaleConvLayer(Strict):
    """The paper's multiscale convolution over the coarsest ``len(channels)`` input scales.

    Finest output: conv(input at that scale). Each coarser output k:
    conv(input at k) + conv(maxpool2x2(output k-1)). Then BN + ReLU per scale.
    """

    kind: Literal["multiscale_conv"]
    channels: Annotated[list[PosInt], Field(min_length=1, description="output channels per scale, finest first")]
    kernel: PosInt = Field(3, description="square kernel size of every conv (clipped to the map size)")
    eps: spec_float(gt=0) = Field(1e-6, description="batch-norm epsilon")
    momentum: spec_float(gt=0, le=1) = Field(0.1, description="batch-norm momentum (PyTorch convention)")


class SelectScaleLayer(Strict):
    """Takes one level of a pyramid (default: the coarsest, -1)."""

    kind: Literal["select_scale"]
    index: Int = Field(-1, description="pyramid level, Python-style (0 finest, -1 coarsest)")


class FlattenLayer(Strict):
    """Flattens a (C, H, W) map, or the coarsest level of a pyramid, to a vector."""

    kind: Literal["flatten"]


class ConcatLayer(Strict):
    """Concatenates inputs along channels (maps of equal size) or features."""

    kind: Literal["concat"]


class AddLayer(Strict):
    """Element-wise sum of inputs of equal shape."""

    kind: Literal["add"]


from ..kinds.module import ModuleLayer  # noqa: E402  # module kind: moves to the kind registry

LAYER_MODELS: tuple[type[Strict], ...] = (
    Conv2dLayer, LinearLayer, BatchNormLayer, ReluLayer, MaxPoolLayer, ResizeLayer,
    PyramidLayer, MultiscaleConvLayer, SelectScaleLayer, FlattenLayer, ConcatLayer, AddLayer,
    ModuleLayer,  # module kind: moves to the kind registry
)
LAYER_KINDS: tuple[str, ...] = tuple(m.model_fields["kind"].annotation.__args__[0] for m in LAYER_MODELS)
#: Kinds that may appear inside a router sequence.
ROUTER_LAYER_KINDS = ("linear", "batchnorm", "relu", "flatten", "conv2d", "maxpool", "select_scale")

LayerSpec = Annotated[Union[tuple(LAYER_MODELS)], Field(discriminator="kind")]


# ---------------------------------------------------------------- graph nodes
class NodeFields(Strict):
    name: Name
    input: Name | Annotated[list[Name], Field(min_length=1)] = Field(description="name(s) of the tensor(s) this node reads")


def _node_model(layer: type[Strict]) -> type[Strict]:
    name = layer.__name__.replace("Layer", "Node")
    model = create_model(name, __base__=(NodeFields, layer), __module__=__name__)
    model.__doc__ = layer.__doc__
    return model


NODE_MODELS = tuple(_node_model(m) for m in LAYER_MODELS)
globals().update({m.__name__: m for m in NODE_MODELS})


class RouterSpec(Strict):
    """The small subnetwork that scores a junction's sinks.

    Its last layer must be ``linear`` with one output per sink; it starts at zero.
    Give either ``layers`` inline or the name of a ``block``.
    """

    reads: Name = Field(description="the tensor the router reads (e.g. a global descriptor)")
    layers: list[LayerSpec] | None = Field(None, description="the router's layers, last one linear with n_sinks outputs")
    block: str | None = Field(None, description="name of a layer sequence under top-level 'blocks'")


class JunctionNode(Strict):
    """An n-way junction: exactly one sink runs, picked by the router (argmax at inference)."""

    kind: Literal["junction"]
    name: Name
    router: RouterSpec = Field(description="the subnetwork that scores the sinks")
    sinks: Annotated[list[Name], Field(min_length=2, description="ordered sink nodes; one runs")]


class ClassifierNode(Strict):
    """A terminal classifier: linear layer from a flat vector to ``classes`` logits."""

    kind: Literal["classifier"]
    name: Name
    input: Name = Field(description="the flat feature vector it reads")
    classes: PosInt = Field(description="number of classes (logits)")
    bias: Bool = Field(True, description="add a learned bias")
    init: Init = Field("xavier", description="weight initialisation: 'xavier' or 'zeros'")
    error: Literal["cross_entropy"] = Field(
        "cross_entropy", description="the cost of error at this leaf; training takes it from its 'error' setting "
                                     "(--error), so only the default is accepted here")

    @field_validator("error", mode="before")
    @classmethod
    def _error_is_a_training_setting(cls, value: Any) -> Any:
        # Training never read a per-leaf error; accepting zero_one here would be silently ignored.
        if value == "zero_one":
            raise PydanticCustomError(
                "leaf_error", "'cross_entropy': every leaf takes its error from the training setting "
                              "(train --error zero_one, for critic targets)")
        return value


NodeSpec = Annotated[Union[tuple(NODE_MODELS) + (JunctionNode, ClassifierNode)], Field(discriminator="kind")]
NODE_KINDS: tuple[str, ...] = LAYER_KINDS + ("junction", "classifier")


class InputSpec(Strict):
    """The single network input."""

    name: Name = "image"
    shape: Annotated[list[PosInt], Field(min_length=1, max_length=3, description="(C, H, W) or (F,)")]


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
    nodes: tuple[NodeSpec, ...]
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
