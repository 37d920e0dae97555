"""The registry of layer kinds: :class:`LayerKind`, :func:`register_kind`, entry points.

Built-in kinds (one module each in this package) and plugin kinds (the
``routegraph.kinds`` entry-point group) are loaded once, lazily, before the
first lookup; user code adds its own with :func:`register_kind`. Everything
else (the spec's validation union, the JSON Schema, the router-kind check,
the did-you-mean lists, the compiler's rules, the module builders, the
inference kernels) is looked up here at call time.

>>> [k.name for k in kinds()][:3]
['conv2d', 'linear', 'batchnorm']
>>> get_kind("relu").in_router
True
"""
from __future__ import annotations

import importlib
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Union, get_args, get_origin

from ..errors import KindError, unknown_name
from ..imports import import_attribute

#: The entry-point group plugin packages declare their kinds in.
GROUP = "routegraph.kinds"
#: What a kind's name may look like (it is written in specs as ``kind: NAME``).
KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: Graph-node kinds the compiler handles itself; no declaration may take these names.
RESERVED = ("junction",)
#: The modules of this package declaring the built-in kinds (each has ``KINDS``), in order.
BUILTIN_MODULES = ("conv2d", "linear", "batchnorm", "relu", "maxpool", "resize", "pyramid", "multiscale_conv",
                   "select_scale", "flatten", "merge", "classifier", "module", "layernorm", "gelu",
                   "global_avgpool", "dropout")

Target = Union[Callable, str]


@dataclass(frozen=True)
class LayerKind:
    """One layer kind, declared in one place.

    - ``name``: what a spec writes as ``kind:``.
    - ``config``: its pydantic model (torch-free): ``kind: Literal[name]`` and the
      kind's fields, each with a description; unknown keys forbidden (derive it
      from :class:`routegraph.kinds.Strict`).
    - ``rule``: ``rule(config: dict, in_shapes) -> LayerFacts`` (output shape, ops, params),
      raising :class:`~routegraph.kinds.ShapeProblem` when the inputs do not fit.
    - ``build``: ``build(layer) -> nn.Module`` (``layer``: a compiled node or router layer
      with ``config``, ``in_shapes``, ``out_shape``), or a ``"package.module:attr"`` string
      resolved on first use, so declaring a kind imports no torch.
    - ``kernel``: optional ``kernel(module, layer, options) -> callable | None`` for routed
      inference (:mod:`routegraph.infer.plan`); without one, or when it returns None, the
      node runs its own ``nn.Module``. Also a callable or a string.
    - ``in_router``: whether it may be a step of a router.
    - ``imports``: optional ``imports(config: dict) -> {field: "package.module:attr"}``, the
      code a node of this kind will import. The loader checks each target against the user's
      permission (:mod:`routegraph.imports`) without importing it, and run directories record
      such nodes' configs (config.json ``modules``), since reloading the run imports them again.
    - ``node_only``: the config model is a whole graph node (it declares ``name`` and
      ``input`` itself, e.g. ``classifier``), not a layer of routers or blocks.
    """

    name: str
    config: type
    rule: Callable
    build: Target
    kernel: Target | None = None
    in_router: bool = False
    node_only: bool = False
    imports: Callable | None = None

    def builder(self) -> Callable:
        """The module builder, resolving a string on first use."""
        return _resolve(self.build, self.name, "build")

    def kernel_factory(self) -> Callable | None:
        """The inference-kernel factory, or None."""
        return None if self.kernel is None else _resolve(self.kernel, self.name, "kernel")

    @property
    def doc(self) -> str:
        """The first line of the config model's docstring."""
        return (self.config.__doc__ or "").strip().splitlines()[0] if self.config.__doc__ else ""


_KINDS: dict[str, LayerKind] = {}
_STATE = {"builtins": False, "plugins": False, "loading": False}
_RESOLVED: dict[tuple[str, str], Callable] = {}


def _resolve(target: Target, kind: str, what: str) -> Callable:
    if callable(target):
        return target
    key = (kind, target)
    if key not in _RESOLVED:
        try:
            obj: Any = import_attribute(target)
        except (ImportError, AttributeError) as exc:
            raise KindError(f"layer kind {kind!r}: its {what} {target!r} cannot be imported "
                            f"({type(exc).__name__}: {exc})") from None
        if not callable(obj):
            raise KindError(f"layer kind {kind!r}: its {what} {target!r} is not callable")
        _RESOLVED[key] = obj
    return _RESOLVED[key]


# ---------------------------------------------------------------- checking declarations
def _is_target(value: Any) -> bool:
    return callable(value) or (isinstance(value, str) and re.fullmatch(r"[\w.]+:[\w.]+", value) is not None)


def check_kind(kind: Any) -> LayerKind:
    """``kind`` if it is a valid declaration, else a :class:`~routegraph.errors.KindError` saying why.

    >>> check_kind("relu")
    Traceback (most recent call last):
    routegraph.errors.KindError: a layer kind must be a routegraph.kinds.LayerKind, got str
    """
    if not isinstance(kind, LayerKind):
        raise KindError(f"a layer kind must be a routegraph.kinds.LayerKind, got {type(kind).__name__}")
    name = kind.name

    def bad(why: str):
        raise KindError(f"layer kind {name!r}: {why}")

    if not isinstance(name, str) or not KIND_NAME.match(name):
        raise KindError(f"layer kind name {name!r} is invalid (lower-case letters, digits and '_', "
                        "starting with a letter)")
    if name in RESERVED:
        bad("the name is reserved for the compiler's own graph nodes")
    from pydantic import BaseModel

    config = kind.config
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        bad(f"config must be a pydantic model class, got {config!r}")
    if not getattr(config, "__pydantic_complete__", True):
        bad(f"config {config.__name__} is not fully defined (pydantic could not resolve its annotations)")
    field = config.model_fields.get("kind")
    if field is None or get_origin(field.annotation) is not Literal or get_args(field.annotation) != (name,):
        bad(f"config {config.__name__} must declare the field kind: Literal[{name!r}]")
    if config.model_config.get("extra") != "forbid":
        bad(f"config {config.__name__} must forbid unknown keys (derive it from routegraph.kinds.Strict)")
    has_node_fields = {"name", "input"} & set(config.model_fields)
    if kind.node_only and has_node_fields != {"name", "input"}:
        bad("a node_only config must declare 'name' and 'input' itself")
    if not kind.node_only and has_node_fields:
        bad(f"config {config.__name__} must not declare {sorted(has_node_fields)}: graph nodes add them")
    if kind.node_only and kind.in_router:
        bad("a node_only kind cannot be in_router")
    if not callable(kind.rule):
        bad("rule must be callable: rule(config, in_shapes) -> LayerFacts")
    if not _is_target(kind.build):
        bad("build must be a callable or a 'package.module:attr' string")
    if kind.kernel is not None and not _is_target(kind.kernel):
        bad("kernel must be None, a callable or a 'package.module:attr' string")
    if kind.imports is not None and not callable(kind.imports):
        bad("imports must be None or callable: imports(config) -> {field: target}")
    if not isinstance(kind.in_router, bool) or not isinstance(kind.node_only, bool):
        bad("in_router and node_only must be True or False")
    return kind


# ---------------------------------------------------------------- loading
def _add(kind: LayerKind, replace: bool, source: str = "") -> LayerKind:
    check_kind(kind)
    if kind.name in _KINDS and not replace:
        raise KindError(f"layer kind {kind.name!r} is already registered" + (f" ({source})" if source else "")
                        + "; pass replace=True to replace it")
    _KINDS[kind.name] = kind
    _RESOLVED.clear()
    return kind


def _declared(obj: Any) -> list:
    """An entry point's object as a list: a LayerKind, a list of them, or a callable returning either
    (or None, having called :func:`register_kind` itself)."""
    if callable(obj) and not isinstance(obj, LayerKind):
        obj = obj()
    if obj is None:
        return []
    return [obj] if isinstance(obj, LayerKind) else list(obj)


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        for kind in importlib.import_module(f"{__package__}.{module}").KINDS:
            _add(kind, replace=False)


def _load_plugins() -> None:
    from importlib.metadata import entry_points

    added: list[str] = []
    try:
        for ep in entry_points(group=GROUP):
            where = f"plugin entry point {ep.name!r} = {ep.value!r} (group {GROUP!r})"
            try:
                declared = _declared(ep.load())
            except Exception as exc:  # a plugin's own failure, whatever it is: one line naming it
                raise KindError(f"{where} failed to load: {type(exc).__name__}: {exc}") from None
            for kind in declared:
                try:
                    _add(kind, replace=False, source=where)
                except KindError as exc:
                    raise KindError(f"{where}: {exc}") from None
                added.append(kind.name)
    except KindError:
        for name in added:  # all or nothing: the next lookup reports the same error again
            _KINDS.pop(name, None)
        raise


def _ensure_loaded() -> None:
    if _STATE["loading"] or (_STATE["builtins"] and _STATE["plugins"]):
        return
    _STATE["loading"] = True
    try:
        if not _STATE["builtins"]:
            _load_builtins()
            _STATE["builtins"] = True
        _load_plugins()
        _STATE["plugins"] = True
    finally:
        _STATE["loading"] = False


# ---------------------------------------------------------------- public API
def kinds() -> tuple[LayerKind, ...]:
    """Every registered kind, built-ins first, in registration order."""
    _ensure_loaded()
    return tuple(_KINDS.values())


def kind_names() -> tuple[str, ...]:
    """The registered kinds' names.

    >>> "conv2d" in kind_names() and "junction" not in kind_names()
    True
    """
    return tuple(k.name for k in kinds())


def get_kind(name: str) -> LayerKind:
    """The kind called ``name``; an unknown name is an
    :class:`~routegraph.errors.UnknownNameError` with a did-you-mean.

    >>> get_kind("relux")
    Traceback (most recent call last):
    routegraph.errors.UnknownNameError: unknown layer kind 'relux'; did you mean 'relu'? (known: add, ...)
    """
    _ensure_loaded()
    try:
        return _KINDS[name]
    except KeyError:
        raise unknown_name("layer kind", name, _KINDS) from None


def register_kind(kind: LayerKind | None = None, /, *, replace: bool = False, **fields) -> LayerKind:
    """Register a layer kind: a :class:`LayerKind`, or its fields as keywords.

    Registering a name twice is a :class:`~routegraph.errors.KindError` unless
    ``replace=True``. Returns the kind; :func:`unregister_kind` removes it and
    :func:`registered` does both around a block. See docs/spec.md, "Your own layer kinds".

    >>> from routegraph.kinds import relu
    >>> register_kind(relu.KINDS[0])
    Traceback (most recent call last):
    routegraph.errors.KindError: layer kind 'relu' is already registered; pass replace=True to replace it
    """
    if kind is None:
        try:
            kind = LayerKind(**fields)
        except TypeError as exc:
            raise KindError(f"register_kind: {exc}") from None
    elif fields:
        raise KindError("register_kind: pass a LayerKind or its fields as keywords, not both")
    _ensure_loaded()
    return _add(kind, replace)


def unregister_kind(name: str) -> LayerKind:
    """Remove a registered kind and return it (unknown names: UnknownNameError)."""
    kind = get_kind(name)
    del _KINDS[name]
    _RESOLVED.clear()
    return kind


@contextmanager
def registered(*declared: LayerKind, replace: bool = False) -> Iterator[tuple[LayerKind, ...]]:
    """Register kinds for the duration of a ``with`` block; afterwards the registry is as before
    (a replaced kind comes back).

    >>> from typing import Literal
    >>> from routegraph.kinds import Strict, relu
    >>> class Relu2(Strict):
    ...     kind: Literal["relu2"]
    >>> with registered(LayerKind("relu2", Relu2, relu.rule, relu.build)):
    ...     "relu2" in kind_names()
    True
    >>> "relu2" in kind_names()
    False
    """
    _ensure_loaded()
    before = dict(_KINDS)
    try:
        yield tuple(_add(kind, replace) for kind in declared)
    finally:
        _KINDS.clear()
        _KINDS.update(before)
        _RESOLVED.clear()


class KindView:
    """A read-only, registry-derived ``kind -> attribute`` mapping (``SHAPE_RULES``, ``MODULE_BUILDERS``),
    kept for code written against the old per-concern registries.

    >>> KindView("rule").get("relu") is get_kind("relu").rule
    True
    """

    def __init__(self, attribute: str):
        self.attribute = attribute

    def get(self, name: str) -> Callable:
        kind = get_kind(name)
        return kind.builder() if self.attribute == "build" else getattr(kind, self.attribute)

    def __contains__(self, name: object) -> bool:
        return name in kind_names()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(kind_names()))

    def names(self) -> list[str]:
        return sorted(kind_names())


def import_records(nodes) -> dict[str, dict]:
    """``{node: config without kind}`` of the nodes whose kind imports code (``LayerKind.imports``):
    what config.json records as ``modules``, so that reloading a run asks for the same permission.

    >>> from routegraph.graph import compile_spec
    >>> from routegraph.spec import load_spec
    >>> import_records(compile_spec(load_spec("specs/module_tree.yaml")).nodes)["deep.fc"]
    {'target': 'torch.nn:Linear', 'args': {'in_features': 64, 'out_features': 32}}
    """
    return {n.name: {k: v for k, v in n.config.items() if k != "kind"}
            for n in nodes if get_kind(n.kind).imports is not None}
