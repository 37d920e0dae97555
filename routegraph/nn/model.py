"""``build_model``: a :class:`RoutedNetwork` from a compiled graph.

Dense mode (``forward``) evaluates every node on the whole batch, as the
reference does for training, and returns every classifier's logits, every
junction's router scores, and the per-region operation counts. Routed
(path-only) inference lives in :mod:`routegraph.infer` (``routegraph.route(model, x)``);
this module imports nothing from it.

>>> import torch, routegraph                                          # doctest: +SKIP
>>> model = routegraph.build_model(routegraph.compile_spec(spec))      # doctest: +SKIP
>>> out = model(torch.randn(2, 3, 32, 32))                            # doctest: +SKIP
>>> sorted(out.logits), sorted(out.scores)                            # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import Problem, SpecError
from ..graph.compiled import CompiledGraph, CompiledJunction
from ..graph.summary import format_bytes
from ..imports import granted
from ..k_cpt import router_input
from .layers import build_module


def module_key(name: str) -> str:
    """Torch module names cannot contain dots; template instances use them."""
    return name.replace(".", "__")


def gather_rows(value: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``value.index_select(0, rows)``, keeping a channels-last map channels-last
    (index_select alone returns NCHW, and the next conv would pay for a reorder).

    >>> gather_rows(torch.arange(6).view(3, 2), torch.tensor([2, 0]))
    tensor([[4, 5],
            [0, 1]])
    """
    if value.dim() == 4 and not value.is_contiguous() and value.is_contiguous(memory_format=torch.channels_last):
        return value.permute(0, 2, 3, 1).index_select(0, rows).permute(0, 3, 1, 2)
    return value.index_select(0, rows)


@dataclass
class DenseOutput:
    """What a dense forward pass returns.

    ``logits``: classifier -> [B, classes]; ``scores``: junction -> [B, n_sinks];
    ``region_ops``: [R] float64 operation counts per region (constant).
    """

    logits: dict[str, torch.Tensor]
    scores: dict[str, torch.Tensor]
    region_ops: torch.Tensor


class Router(nn.Module):
    """A junction's scoring subnetwork; optionally appends ``k_cpt_scale * k_cpt``
    (:func:`routegraph.k_cpt.router_input`) before its first linear."""

    def __init__(self, junction: CompiledJunction, k_cpt_input: bool, k_cpt_scale: float):
        super().__init__()
        self.k_cpt_scale = k_cpt_scale
        self.layers = nn.ModuleList(build_module(layer) for layer in junction.router)
        # the compiler widens the first linear layer that reads a flat vector by the k_cpt column
        vector_linears = [i for i, layer in enumerate(junction.router)
                          if layer.kind == "linear" and len(layer.in_shapes[0].dims) == 1]
        self.k_cpt_at = vector_linears[0] if k_cpt_input and vector_linears else -1

    def forward(self, x: torch.Tensor, k_cpt: torch.Tensor | None = None, start: int = 0) -> torch.Tensor:
        """Scores from the router's input ``x`` (or, with ``start > 0``, from the output of layer
        ``start - 1``, which fused heads compute; see :meth:`RoutedNetwork.forward`)."""
        for i in range(start, len(self.layers)):
            if i == self.k_cpt_at:
                x = torch.cat([x, self.k_cpt_column(k_cpt, x)], dim=1)
            x = self.layers[i](x)
        return x

    def head(self) -> nn.Linear | None:
        """The first layer when it is a linear layer reading the router's input (it can be
        fused with other linear layers reading the same tensor), else None."""
        first = self.layers[0] if len(self.layers) else None
        return first if isinstance(first, nn.Linear) and self.k_cpt_at in (-1, 0) else None



    def k_cpt_column(self, k_cpt, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1]``: the extra input column for the batch ``x`` (k_cpt a scalar or ``[B]`` tensor)."""
        if k_cpt is None:
            raise ValueError("this network reads k_cpt: pass k_cpt= to forward()")
        return router_input(k_cpt, self.k_cpt_scale, dtype=x.dtype, device=x.device).expand(x.shape[0], 1)


class RoutedNetwork(nn.Module):
    """A routed network built from a :class:`CompiledGraph`.

    ``nodes[module_key(name)]`` holds each node's module and
    ``routers[module_key(junction)]`` each router. ``graph`` keeps the compiled
    graph, so shapes, costs and paths stay at hand.
    """

    def __init__(self, graph: CompiledGraph):
        super().__init__()
        self.graph = graph
        with granted(graph.allow_import):  # what module nodes may import
            self.nodes = nn.ModuleDict({module_key(n.name): build_module(n) for n in graph.nodes})
        self.routers = nn.ModuleDict({module_key(j.name): Router(j, graph.k_cpt_input, graph.k_cpt_scale) for j in graph.junctions})
        self.register_buffer("region_ops", torch.tensor([r.ops for r in graph.regions], dtype=torch.float64), persistent=False)
        # Execution order: nodes and routers interleaved topologically (routers right after what they read).
        readers: dict[str, list[CompiledJunction]] = {}
        for j in graph.junctions:
            readers.setdefault(j.reads, []).append(j)
        self._schedule = []
        for n in graph.nodes:
            self._schedule.append(("node", n.name, module_key(n.name), n.inputs))
            for j in readers.get(n.name, []):
                self._schedule.append(("router", j.name, module_key(j.name), (j.reads,)))
        for j in readers.get(graph.input_name, []):
            self._schedule.insert(0, ("router", j.name, module_key(j.name), (j.reads,)))
        self._classifiers = set(graph.classifiers)
        # Fast-mode switches (set by routegraph.train.fast; results stay the same up to float rounding):
        self.channels_last = False  # the input is converted to channels-last (the weights are, by .to())
        self.fused_heads = False  # linear heads reading one tensor run as one matmul (_fused_schedule)
        self._fused_schedule = None

    # -- fused heads -------------------------------------------------------
    def _build_fused_schedule(self) -> list:
        """The schedule with, for every tensor read by two or more linear heads (classifiers
        and the first linear layer of routers), one ("heads", ...) entry computing them
        together: ``x @ cat(W_i).T + cat(b_i)``, split. A router's k_cpt input column is
        added separately (``k * w_k``): the same sum, in another order."""
        heads: dict[str, list] = {}
        for what, name, key, inputs in self._schedule:
            if what == "node" and name in self._classifiers and isinstance(self.nodes[key], nn.Linear):
                heads.setdefault(inputs[0], []).append((what, name, key))
            elif what == "router" and self.routers[key].head() is not None:
                heads.setdefault(inputs[0], []).append((what, name, key))
        groups = {source: members for source, members in heads.items() if len(members) > 1}
        member_of = {(what, name): source for source, members in groups.items() for what, name, _ in members}
        schedule, done = [], set()
        for entry in self._schedule:
            source = member_of.get(entry[:2])
            if source is None:
                schedule.append(entry)
            elif source not in done:
                done.add(source)
                schedule.append(("heads", source, None, tuple(groups[source])))
        return schedule

    def _linear_head(self, what: str, key: str) -> nn.Linear:
        return self.nodes[key] if what == "node" else self.routers[key].head()

    def _run_heads(self, x: torch.Tensor, members, k_cpt, logits, scores) -> None:
        if x.dim() != 2:  # heads fuse along features of [B, D] inputs only; run them one by one
            for what, name, key in members:
                if what == "node":
                    logits[name] = self.nodes[key](x)
                else:
                    scores[name] = self.routers[key](x, k_cpt)
            return
        width = x.shape[1]
        linears = [self._linear_head(what, key) for what, _, key in members]
        weight = torch.cat([lin.weight[:, :width] for lin in linears])
        biases = [lin.bias if lin.bias is not None else lin.weight.new_zeros(lin.out_features) for lin in linears]
        parts = F.linear(x, weight, torch.cat(biases)).split([lin.out_features for lin in linears], dim=1)
        for (what, name, key), lin, y in zip(members, linears, parts):
            if what == "node":
                logits[name] = y
                continue
            router = self.routers[key]
            if router.k_cpt_at == 0:  # the extra input column, [B, 1] x [1, out]
                y = y + router.k_cpt_column(k_cpt, x) * lin.weight[:, width]
            scores[name] = router(y, k_cpt, start=1)

    def forward(self, x: torch.Tensor, k_cpt: float | torch.Tensor | None = None) -> DenseOutput:
        """Evaluate every node and router on the whole batch (dense mode)."""
        if k_cpt is not None and not torch.is_tensor(k_cpt):
            k_cpt = torch.full((), float(k_cpt), device=x.device)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        schedule = self._schedule
        if self.fused_heads:
            if self._fused_schedule is None:
                self._fused_schedule = self._build_fused_schedule()
            schedule = self._fused_schedule
        values = {self.graph.input_name: x}
        logits, scores = {}, {}
        for what, name, key, inputs in schedule:
            if what == "heads":
                self._run_heads(values[name], inputs, k_cpt, logits, scores)
                continue
            if what == "router":
                scores[name] = self.routers[key](values[inputs[0]], k_cpt)
                continue
            out = self.nodes[key](*(values[i] for i in inputs))
            if name in self._classifiers:
                logits[name] = out
            else:
                values[name] = out
        return DenseOutput(logits, scores, self.region_ops)

    def node_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by what owns them: node names and junction names."""
        groups = {n.name: list(self.nodes[module_key(n.name)].parameters()) for n in self.graph.nodes}
        groups.update({j.name: list(self.routers[module_key(j.name)].parameters()) for j in self.graph.junctions})
        return groups

    def owner_regions(self) -> dict[str, int]:
        """The region of each parameter owner (node or junction)."""
        owners = {n.name: n.region for n in self.graph.nodes}
        owners.update({j.name: j.region for j in self.graph.junctions})
        return owners


#: A container's memory limit: cgroup v2, then v1 (v1 writes a huge number for "no limit").
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def available_memory() -> int | None:
    """Bytes of memory this process could allocate at most: the kernel's ``MemAvailable``
    plus free swap (else free physical pages), capped by a container's cgroup limit;
    None if unknown. Generous on purpose: what exceeds it surely cannot be built."""
    found = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in handle if line.strip()}
        if "MemAvailable" in fields:
            found.append(fields["MemAvailable"] + fields.get("SwapFree", 0))
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            pass
    for limit_file in _CGROUP_LIMITS:
        try:
            with open(limit_file, encoding="ascii") as limit:
                cap = limit.read().strip()
            if cap != "max":
                found.append(int(cap))
        except (OSError, ValueError):
            pass
    return min(found) if found else None


def check_fits_in_memory(graph: CompiledGraph) -> None:
    """Refuse, before allocating anything, a network whose parameters do not fit in the
    memory available: a located :class:`~routegraph.errors.SpecError` at its largest node."""
    available = available_memory()
    if available is None or graph.param_bytes <= available:
        return
    owners = [(n.params, n.name, n.loc) for n in graph.nodes] + [(j.params, j.name, j.loc) for j in graph.junctions]
    params, name, loc = max(owners, key=lambda o: o[0])
    raise SpecError(Problem(
        f"the network has {graph.total_params:,} parameters ({format_bytes(graph.param_bytes)} as float32), "
        f"more than the {format_bytes(available)} of memory available; the largest node, {name!r}, "
        f"has {params:,}", file=loc.file, line=loc.line, col=loc.col, path=loc.path,
        allowed="a network whose parameters fit in memory"))


def build_model(graph: CompiledGraph) -> RoutedNetwork:
    """Build the torch modules of a compiled graph (Xavier init, zero biases,
    zero-initialised last router layers, BN eps and momentum from the spec).

    A network too large for the memory available is refused first (:func:`check_fits_in_memory`)."""
    check_fits_in_memory(graph)
    return RoutedNetwork(graph)
