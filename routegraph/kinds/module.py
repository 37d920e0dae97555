"""The ``module`` kind: any importable ``nn.Module`` as a graph node.

One file holds the whole kind: its config model (pydantic, torch-free), its shape,
ops and params rule, and its builder. torch is imported only when a rule or builder
runs, so ``routegraph.spec`` and ``routegraph.graph`` stay torch-free.

Shapes. The rule builds the module on the meta device and runs it once on meta
tensors of the input shapes with ``PROBE_BATCH`` prepended (no memory, no compute).
A module that cannot run on the meta device gets a tiny CPU probe instead, with a
:class:`ModuleProbeWarning` saying so. Params are the module's; ops are
``torch.utils.flop_counter.FlopCounterMode``'s FLOPs / 2 per example, i.e. the
multiply-accumulates of matmul- and convolution-type ops (docs/spec.md, "module").

Permission. Nothing is imported unless :mod:`routegraph.imports` allows the
target (the loader checks it without importing; the rule and the builder check it
again, under the permission the spec or run was loaded with).

>>> ModuleLayer(kind="module", target="torch.nn:Linear", args={"in_features": 4, "out_features": 2}).target
'torch.nn:Linear'
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from .. import imports
from ..errors import RouteGraphError
from .fields import Strict
from .registry import LayerKind
from .shapes import LayerFacts, ShapeProblem, TensorShape

#: Examples in the shape probe (per-example ops divide by it; 2, so batch statistics work).
PROBE_BATCH = 2
#: Largest module (parameters) the CPU fallback builds: it is a tiny probe, not an allocation of gigabytes.
CPU_PROBE_MAX_PARAMS = 50_000_000


class ModuleProbeWarning(UserWarning):
    """A module node was measured with a CPU probe: it cannot run on the meta device."""


class ModuleLayer(Strict):
    """Any importable ``nn.Module``: ``target`` is ``package.module:Attribute``, a class or a
    factory returning an ``nn.Module``, called with ``args`` as keyword arguments. Only
    ``torch.nn`` targets are importable unless allowed (``--allow-import PREFIX``)."""

    kind: Literal["module"]
    target: str = Field(json_schema_extra={"pattern": imports.TARGET_PATTERN},
                        description="package.module:Attribute, a class or factory returning an nn.Module")
    args: dict[str, Any] = Field(default_factory=dict, description="its keyword arguments (plain YAML values)")

    @field_validator("target")
    @classmethod
    def _target_form(cls, value: str) -> str:
        try:
            imports.split_target(value)
        except imports.ImportRefused as exc:
            raise PydanticCustomError("target", exc.allowed) from None
        return value


# ---------------------------------------------------------------- shape, ops and params rule
def shape_rule(config: dict, in_shapes: tuple) -> Any:
    """``LayerFacts`` of a module node from a meta (else CPU) probe; ``ShapeProblem`` with
    ``at`` = ``target``/``args`` for a refused or failed import, a factory that rejects its
    arguments or returns no module, or a non-tensor output; at the input for a wrong shape."""

    target, args = config["target"], config.get("args") or {}
    for shape in in_shapes:
        if not isinstance(shape, TensorShape):
            raise ShapeProblem(f"a module node takes tensors, got {shape}", "select_scale first")
    factory = _factory(target)
    try:
        module, out, flops = _probe(factory, args, in_shapes, "meta")
    except _Failed as meta_failure:
        if meta_failure.params > CPU_PROBE_MAX_PARAMS:  # too big to build for real: the meta error stands
            raise ShapeProblem(meta_failure.message, meta_failure.allowed, at=meta_failure.at) from None
        try:
            module, out, flops = _probe(factory, args, in_shapes, "cpu")
        except _Failed as failure:
            raise ShapeProblem(failure.message, failure.allowed, at=failure.at) from None
        warnings.warn(f"{target} cannot run on the meta device ({meta_failure.message}); its shapes and ops "
                      "were measured with a CPU probe", ModuleProbeWarning, stacklevel=2)
    params = sum(p.numel() for p in module.parameters())
    return LayerFacts(TensorShape(tuple(out.shape[1:])), flops // (2 * PROBE_BATCH), params)


class _Failed(RouteGraphError):  # internal: turned into a ShapeProblem
    def __init__(self, message: str, allowed: str = "", at: str = "", params: int = 0):
        super().__init__(message)
        # params: of the module that was built before the failure (0: none was)
        self.message, self.allowed, self.at, self.params = message, allowed, at, params


def _factory(target: str):

    try:
        return imports.resolve(target)
    except imports.ImportRefused as exc:
        raise ShapeProblem(exc.message, exc.allowed, at="target") from None


def _probe(factory, args: dict, in_shapes: tuple, device: str):
    """(module, output, FLOPs) of one run on ``device`` with the math attention kernel (so
    that FlopCounterMode sees attention's matmuls, as it does in routed inference tests)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    module = _construct(factory, args, device)
    xs = [torch.zeros((PROBE_BATCH,) + tuple(s.dims), device=device) for s in in_shapes]
    shapes = ", ".join("x".join(map(str, s.dims)) for s in in_shapes)
    try:
        with torch.no_grad(), _math_attention(), FlopCounterMode(display=False) as counter:
            out = module.eval()(*xs)
    except Exception as exc:  # noqa: BLE001 - the user's module: any failure, one line
        raise _Failed(f"the module fails on an input of {shapes}: {type(exc).__name__}: {imports.first_line(exc)}",
                      "an input shape this module accepts", params=sum(p.numel() for p in module.parameters())) from None
    if not isinstance(out, torch.Tensor):
        raise _Failed(f"the module returns {_a(type(out).__name__)}, not a tensor", "a module whose forward returns one tensor",
                      at="target")
    if out.dim() < 2 or out.shape[0] != PROBE_BATCH:
        raise _Failed(f"the module's output {tuple(out.shape)} has no batch axis of {PROBE_BATCH} for an input of "
                      f"{PROBE_BATCH} examples", "a module that keeps the batch axis first", at="target")
    return module, out, counter.get_total_flops()


def _construct(factory, args: dict, device: str):
    import torch

    try:
        with torch.device(device):
            module = factory(**args)
    except Exception as exc:  # noqa: BLE001 - TypeError for a rejected key, anything else the factory raises
        raise _Failed(f"{getattr(factory, '__name__', 'the target')}(**args) fails: {type(exc).__name__}: "
                      f"{imports.first_line(exc)}", "keyword arguments the class or factory accepts", at="args") from None
    if not isinstance(module, torch.nn.Module):
        raise _Failed(f"the target returns {_a(type(module).__name__)}, not an nn.Module",
                      "a class or factory returning an nn.Module", at="target")
    return module


@contextmanager
def _math_attention():
    """Attention as plain matmuls: the math sdpa kernel, no fused fast path (restored after)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


# ---------------------------------------------------------------- builder
def build(layer) -> Any:
    """The user's module for a compiled module node (on the CPU, its own initialisation);
    a located :class:`~routegraph.errors.SpecError` if its import is not allowed or fails."""
    from ..errors import Problem, SpecError

    loc = layer.loc
    config = layer.config
    try:
        return _construct(imports.resolve(config["target"]), config.get("args") or {}, "cpu")
    except (imports.ImportRefused, _Failed) as exc:
        at = getattr(exc, "at", "") or "target"
        raise SpecError(Problem(exc.message, path=f"{loc.path}.{at}" if loc.path else at, file=loc.file,
                                line=loc.line, col=loc.col, allowed=exc.allowed)) from None


def _a(noun: str) -> str:
    """``noun`` with its indefinite article.

    >>> _a("tuple"), _a("int")
    ('a tuple', 'an int')
    """
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _imports(config: dict) -> dict[str, str]:
    return {"target": config["target"]}


KINDS = (LayerKind("module", ModuleLayer, shape_rule, build, imports=_imports),)
