"""``build_model``: a :class:`RoutedNetwork` from a compiled graph.

Dense mode (``forward``) evaluates every node on the whole batch, as the
reference does for training, and returns every classifier's logits, every
junction's router scores, and the per-region operation counts. Routed
(path-only) inference lives in :mod:`routegraph.infer`.

>>> import torch, routegraph                                          # doctest: +SKIP
>>> model = routegraph.build_model(routegraph.compile_spec(spec))      # doctest: +SKIP
>>> out = model(torch.randn(2, 3, 32, 32))                            # doctest: +SKIP
>>> sorted(out.logits), sorted(out.scores)                            # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..graph.compiled import CompiledGraph, CompiledJunction
from .layers import MODULE_BUILDERS

#: Routers read ``K_CPT_INPUT_SCALE * k_cpt`` as their extra input (reference: 1e7).
K_CPT_INPUT_SCALE = 1e7


def module_key(name: str) -> str:
    """Torch module names cannot contain dots; template instances use them."""
    return name.replace(".", "__")


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
    """A junction's scoring subnetwork; optionally appends ``1e7 * k_cpt`` before its first linear."""

    def __init__(self, junction: CompiledJunction, k_cpt_input: bool):
        super().__init__()
        self.layers = nn.ModuleList(MODULE_BUILDERS.get(layer.kind)(layer) for layer in junction.router)
        kinds = [layer.kind for layer in junction.router]
        self.k_cpt_at = kinds.index("linear") if k_cpt_input and "linear" in kinds else -1

    def forward(self, x: torch.Tensor, k_cpt: torch.Tensor | None = None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            if i == self.k_cpt_at:
                if k_cpt is None:
                    raise ValueError("this network reads k_cpt: pass k_cpt= to forward()")
                x = torch.cat([x, (K_CPT_INPUT_SCALE * k_cpt).to(x.dtype).reshape(-1, 1).expand(x.shape[0], 1)], dim=1)
            x = layer(x)
        return x


class RoutedNetwork(nn.Module):
    """A routed network built from a :class:`CompiledGraph`.

    ``nodes[module_key(name)]`` holds each node's module and
    ``routers[module_key(junction)]`` each router. ``graph`` keeps the compiled
    graph, so shapes, costs and paths stay at hand.
    """

    def __init__(self, graph: CompiledGraph):
        super().__init__()
        self.graph = graph
        self.nodes = nn.ModuleDict({module_key(n.name): MODULE_BUILDERS.get(n.kind)(n) for n in graph.nodes})
        self.routers = nn.ModuleDict({module_key(j.name): Router(j, graph.k_cpt_input) for j in graph.junctions})
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

    def forward(self, x: torch.Tensor, k_cpt: float | torch.Tensor | None = None) -> DenseOutput:
        """Evaluate every node and router on the whole batch (dense mode)."""
        if k_cpt is not None and not torch.is_tensor(k_cpt):
            k_cpt = torch.tensor(float(k_cpt), device=x.device)
        values = {self.graph.input_name: x}
        logits, scores = {}, {}
        for what, name, key, inputs in self._schedule:
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


def build_model(graph: CompiledGraph) -> RoutedNetwork:
    """Build the torch modules of a compiled graph (Xavier init, zero biases,
    zero-initialised last router layers, BN eps and momentum from the spec)."""
    return RoutedNetwork(graph)
