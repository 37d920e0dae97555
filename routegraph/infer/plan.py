"""The execution plan: everything path-only inference needs, computed once per model.

For every region of the compiled graph's region tree the plan holds

* ``steps``: the region's nodes as ``(kernel, input names, output name,
  names to release)``, with eval-mode batch normalization folded into the
  convolution or linear layer before it and a following ReLU fused in (see
  :mod:`.fold`; these peephole fusions are keyed by kind name here), and
  every other node as the kernel its kind declares
  (:attr:`routegraph.kinds.LayerKind.kernel`: the multiscale convolutions'
  per-scale convs fused, plain callables instead of ``nn.Module`` calls) or,
  for a kind without one, its own ``nn.Module``; values are released after their
  last use so that large maps are freed (and their memory reused) early;
* how it ends: a classifier (a *leaf*, with its index in ``graph.classifiers``)
  or a junction (its router as one callable, the tensor it reads, its child
  regions);
* ``gathers``: for each child region, the tensors computed above it that its
  subtree reads (and for a pyramid, only the levels it reads) -- exactly what
  must be gathered when the batch is split at the junction.

Kernels capture folded *copies* of the weights: a plan is a snapshot.
:func:`plan_for` caches one per model and rebuilds it when any parameter or
buffer has changed (PyTorch bumps a tensor's version counter on every in-place
update, which covers optimizer steps and ``load_state_dict``).

>>> plan = plan_for(model)                          # doctest: +SKIP
>>> plan.regions[0].steps[0]                         # doctest: +SKIP
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..graph.compiled import CompiledGraph, PyramidShape
from ..kinds import relu as relu_kind
from ..kinds.registry import get_kind
from ..nn.layers import SameConv2d
from ..k_cpt import router_input
from ..nn.model import RoutedNetwork, module_key
from . import fold

#: Options of a plan, with the defaults that measured fastest on a 2-core CPU (docs/benchmarks.md).
DEFAULT_OPTIONS = {
    "fold_bn": True,          # fold eval-mode BN into the preceding conv / linear
    "fuse_multiscale": "cat",  # "cat": one conv per coarse scale; "add": two convs; None: run the module
    "channels_last": True,    # conv weights and maps in channels-last memory format
    "kernels": True,          # plain callables instead of nn.Module calls
    "fast_pool": True,        # 2x2 max pooling as two element-wise maxima (fold.pool2)
}


@dataclass
class RegionPlan:
    id: int
    steps: list  # (kernel, input names, output name, names to release after it)
    leaf: int = -1                    # index into graph.classifiers, or -1
    output: str = ""                  # the classifier's name (leaf regions)
    junction: int = -1                # index into graph.junctions, or -1
    reads: str = ""                   # what the junction's router reads
    router: Callable | None = None    # router(x, k_column or None) -> scores
    children: tuple[int, ...] = ()
    # per child: ((name, levels or None), ...) -- levels: the pyramid levels to gather
    gathers: tuple[tuple[tuple[str, tuple[int, ...] | None], ...], ...] = ()


@dataclass
class ExecutionPlan:
    graph: CompiledGraph
    regions: list[RegionPlan]
    path_ops: torch.Tensor            # int64 [L]: ops of each classifier's path
    classes: tuple[int, ...]          # classes of each classifier
    dtype: torch.dtype
    device: torch.device
    options: dict = field(default_factory=dict)
    fingerprint: tuple = ()

    @property
    def k_cpt_input(self) -> bool:
        """Whether the routers read k_cpt (the graph's, stored once there)."""
        return self.graph.k_cpt_input

    def router_input(self, k_cpt, batch: int) -> torch.Tensor:
        """The routers' k_cpt column for ``batch`` examples, in the plan's dtype and on its device:
        :func:`routegraph.k_cpt.router_input` at the graph's scale, the bits the dense network reads."""
        return router_input(k_cpt, self.graph.k_cpt_scale, dtype=self.dtype, device=self.device, batch=batch)


def _tracked(model: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """The floating-point parameters and buffers a plan snapshots (cached per model)."""
    entry = _CACHE.setdefault(model, {})
    tensors = entry.get("tensors")
    if tensors is None:
        tensors = tuple(t for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point())
        entry["tensors"] = tensors
    return tensors


def _fingerprint(model: torch.nn.Module) -> tuple:
    """Version counters of the tracked tensors: any in-place update (optimizer step,
    ``load_state_dict``, ``p.mul_()``) changes it. ~0.2 us per tensor."""
    return tuple([t._version for t in _tracked(model)])


def invalidate(model: torch.nn.Module) -> None:
    """Forget ``model``'s cached plans (needed only after *replacing* parameter tensors,
    e.g. ``load_state_dict(..., assign=True)``; in-place updates are detected)."""
    _CACHE.pop(model, None)


_CACHE: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()


def plan_for(model: RoutedNetwork, **options) -> ExecutionPlan:
    """The cached plan of ``model`` for these options, rebuilt if the weights changed."""
    key = tuple(sorted({**DEFAULT_OPTIONS, **options}.items()))
    per_model = _CACHE.setdefault(model, {})
    fingerprint = _fingerprint(model)
    plan = per_model.get(key)
    if plan is None or plan.fingerprint != fingerprint:
        plan = build_plan(model, **options)
        plan.fingerprint = fingerprint
        per_model[key] = plan
    return plan


def build_plan(model: RoutedNetwork, **options) -> ExecutionPlan:
    """Build the execution plan of ``model`` (see the module doc). The model must be
    in eval mode or have its BN layers' running statistics: inference semantics."""
    opts = {**DEFAULT_OPTIONS, **options}
    unknown = set(opts) - set(DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown plan option(s): {sorted(unknown)} (known: {sorted(DEFAULT_OPTIONS)})")
    graph = model.graph
    first_param = next(iter(model.parameters()), None)
    dtype = first_param.dtype if first_param is not None else torch.get_default_dtype()
    device = first_param.device if first_param is not None else torch.device("cpu")

    # who reads what: nodes (by name) and junction routers
    readers: dict[str, list[str]] = {}
    for node in graph.nodes:
        for i in node.inputs:
            readers.setdefault(i, []).append(node.name)
    junction_reads: set[str] = {j.reads for j in graph.junctions}
    kinds = {n.name: n.kind for n in graph.nodes}
    region_of = {n.name: n.region for n in graph.nodes}
    classifiers = set(graph.classifiers)

    def sole_reader(name: str, kind: str) -> str | None:
        """The one node of ``kind`` that reads ``name``, in the same region, if nothing else does
        (a relu only if it is the built-in one: a kind may be replaced by user code)."""
        rs = readers.get(name, [])
        if len(rs) != 1 or name in junction_reads or name in classifiers:
            return None
        r = rs[0]
        if kind == "relu" and not _builtin_relu(model.nodes[module_key(r)]):
            return None
        return r if kinds[r] == kind and region_of[r] == region_of[name] else None

    regions = [RegionPlan(id=r.id, steps=[]) for r in graph.regions]
    fused_away: set[str] = set()
    for node in graph.nodes:
        if node.name in fused_away:
            continue
        module = model.nodes[module_key(node.name)]
        kernel, out = None, node.name
        if opts["kernels"]:
            if (node.kind, type(module)) in (("conv2d", SameConv2d), ("linear", torch.nn.Linear)):
                bn = sole_reader(node.name, "batchnorm") if opts["fold_bn"] else None
                affine = fold.bn_affine(model.nodes[module_key(bn)]) if bn else None
                if affine is None:
                    bn = None
                tail = bn or node.name
                relu = sole_reader(tail, "relu")
                if node.kind == "conv2d":
                    kernel = fold.conv_kernel(module, affine, bool(relu), opts["channels_last"])
                else:
                    kernel = fold.linear_kernel(module, affine, bool(relu))
                fused_away.update(x for x in (bn, relu) if x)
                out = relu or tail
            elif node.kind == "batchnorm" and opts["fold_bn"]:
                relu = sole_reader(node.name, "relu")
                kernel = fold.bn_kernel(module, bool(relu))
                if kernel is not None and relu:
                    fused_away.add(relu)
                    out = relu
            else:  # the kind's own kernel, if it has one; else its module runs
                kernel = _kind_kernel(module, node, opts)
        regions[node.region].steps.append((kernel or module, node.inputs, out))

    for jx, junction in enumerate(graph.junctions):
        region = regions[junction.region]
        region.junction, region.reads = jx, junction.reads
        region.router = _router_kernel(model.routers[module_key(junction.name)], junction, opts)
        region.children = tuple(junction.sink_regions)
    for k, path in enumerate(graph.paths):
        regions[path.region].leaf, regions[path.region].output = k, path.classifier

    # what each subtree reads from above it (with pyramid levels)
    levels_of = {n.name: len(n.out_shape.levels) for n in graph.nodes if isinstance(n.out_shape, PyramidShape)}
    needs: dict[int, dict[str, set | None]] = {}
    for r in reversed(range(len(graph.regions))):
        produced = {out for _, _, out in regions[r].steps}
        reads: dict[str, set | None] = {}

        def want(name: str, levels) -> None:
            if name in produced:
                return
            if name in reads and (reads[name] is None or levels is None):
                reads[name] = None
            elif name in reads:
                reads[name] |= levels
            else:
                reads[name] = None if levels is None else set(levels)

        for node in graph.nodes:
            if node.region == r and node.name not in fused_away:
                for name in node.inputs:
                    want(name, _levels_used(node, name, levels_of))
        if regions[r].junction >= 0:
            want(regions[r].reads, _router_levels(graph.junctions[regions[r].junction], levels_of))
            for child in regions[r].children:
                for name, levels in needs[child].items():
                    want(name, levels)
        needs[r] = reads
    for region in regions:
        if region.junction >= 0:
            region.gathers = tuple(
                tuple((name, None if levels is None else tuple(sorted(levels))) for name, levels in sorted(needs[c].items()))
                for c in region.children)
        _add_drops(region, needs)

    path_ops = torch.tensor([p.ops for p in graph.paths], dtype=torch.int64)
    classes = tuple(graph.node(c).config["classes"] for c in graph.classifiers)
    plan = ExecutionPlan(graph, regions, path_ops, classes, dtype, device, opts)
    return plan


def _add_drops(region: RegionPlan, needs: dict) -> None:
    """Turn each step into ``(kernel, inputs, output, drop)``: ``drop`` lists the values
    to release after the step (last use in this region, not needed by the router or
    below), so that large maps are freed -- and their memory reused -- early."""
    later = {region.reads} if region.junction >= 0 else {region.output}
    for child in region.children:
        later |= set(needs[child])
    steps, seen = [], set(later)
    for fn, ins, out in reversed(region.steps):
        drop = tuple(name for name in dict.fromkeys((out,) + tuple(ins)) if name not in seen)
        seen |= set(ins) | {out}
        steps.append((fn, ins, out, drop))
    region.steps = steps[::-1]


def _levels_used(node, name: str, levels_of: dict[str, int]):
    """Which levels of pyramid ``name`` the node reads (None: all, or not a pyramid)."""
    n = levels_of.get(name)
    if n is None:
        return None
    if node.kind == "multiscale_conv":
        m = len(node.config["channels"])
        return set(range(n - m, n))
    if node.kind == "select_scale":
        return {node.config["index"] % n}
    if node.kind == "flatten":
        return {n - 1}
    return None


def _router_levels(junction, levels_of):
    n = levels_of.get(junction.reads)
    if n is None:
        return None
    first = junction.router[0] if junction.router else None
    if first is not None and first.kind == "select_scale":
        return {first.config["index"] % n}
    if first is not None and first.kind == "flatten":
        return {n - 1}
    return None


def _builtin_relu(module) -> bool:
    """Whether ``module`` is the built-in relu kind's (the peephole fuses only that one)."""
    return getattr(module, "fn", None) is relu_kind.relu


def _kind_kernel(module, layer, opts) -> Callable | None:
    """The kernel the layer's kind declares (:attr:`routegraph.kinds.LayerKind.kernel`), or None:
    then its ``nn.Module`` runs."""
    factory = get_kind(layer.kind).kernel_factory()
    return None if factory is None else factory(module, layer, opts)


def _router_kernel(router, junction, opts) -> Callable:
    """The router as ``fn(x, k_column)``; ``k_column`` ([B or 1, 1], :meth:`ExecutionPlan.router_input`, scaled)
    is concatenated before the first linear layer for dynamic-k_cpt networks."""
    layers, modules, k_at = junction.router, list(router.layers), router.k_cpt_at
    steps: list[tuple[Callable, bool]] = []
    i = 0
    while i < len(layers):
        kind, module, cat_k = layers[i].kind, modules[i], i == k_at
        if not opts["kernels"]:
            steps.append((module, cat_k))
            i += 1
            continue
        if kind == "linear" and isinstance(module, torch.nn.Linear):
            affine, j = None, i + 1
            if opts["fold_bn"] and j < len(layers) and layers[j].kind == "batchnorm":
                affine = fold.bn_affine(modules[j])
                if affine is not None:
                    j += 1
            relu = j < len(layers) and layers[j].kind == "relu" and _builtin_relu(modules[j])
            steps.append((fold.linear_kernel(module, affine, relu), cat_k))
            i = j + (1 if relu else 0)
            continue
        if kind == "batchnorm" and opts["fold_bn"]:
            steps.append((fold.bn_kernel(module) or module, cat_k))
        elif kind == "batchnorm":
            steps.append((module, cat_k))
        else:
            steps.append((_kind_kernel(module, layers[i], opts) or module, cat_k))
        i += 1
    if len(steps) == 3 and not any(c for _, c in steps):
        (f0, _), (f1, _), (f2, _) = steps

        def route3(x, k=None):
            return f2(f1(f0(x)))
        return route3
    cat = torch.cat

    def route(x, k=None):
        for fn, cat_k in steps:
            if cat_k:
                x = cat([x, k.expand(x.shape[0], 1)], 1)
            x = fn(x)
        return x
    return route
