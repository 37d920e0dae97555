"""The paper's eight-layer chain, built in Python (for benchmarks), and the same
static network written directly in PyTorch, with no routegraph in between.

``chain_spec()`` is used when ``specs/chain_8layer.yaml`` is absent; it follows
the architecture table of docs (reference facts): a 4-scale bilinear pyramid,
eight multiscale convolutions, a linear classifier on the flattened coarsest
map after each layer, and 2-way junctions {classify now, go on} after layers
1..7 whose routers are linear 16 -> BN -> ReLU -> linear 16 -> BN -> ReLU ->
linear 2.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

CHANNELS = ([16] * 4, [16] * 4, [32] * 3, [32] * 3, [64] * 2, [64] * 2, [128], [128])
ROUTER = [
    {"kind": "linear", "features": 16}, {"kind": "batchnorm"}, {"kind": "relu"},
    {"kind": "linear", "features": 16}, {"kind": "batchnorm"}, {"kind": "relu"},
    {"kind": "linear", "features": 2},
]


def chain_spec_dict(width: int = 1, classes: int = 10, layers: int = 8) -> dict:
    nodes = [{"name": "pyr", "kind": "pyramid", "input": "image", "sizes": [32, 16, 8, 4]}]
    previous = "pyr"
    for i in range(1, layers + 1):
        nodes += [
            {"name": f"layer{i}", "kind": "multiscale_conv", "input": previous,
             "channels": [c * width for c in CHANNELS[i - 1]]},
            {"name": f"desc{i}", "kind": "flatten", "input": f"layer{i}"},
            {"name": f"exit{i}", "kind": "classifier", "input": f"desc{i}", "classes": classes},
        ]
        if i < layers:
            nodes.append({"name": f"j{i}", "kind": "junction", "router": {"reads": f"desc{i}", "layers": ROUTER},
                          "sinks": [f"exit{i}", f"layer{i + 1}"]})
        previous = f"layer{i}"
    return {"name": "chain_8layer", "input": {"name": "image", "shape": [3, 32, 32]}, "nodes": nodes}


def load_chain(k_cpt_input: bool = False):
    """The compiled chain: specs/chain_8layer.yaml if present, else :func:`chain_spec_dict`."""
    from routegraph.graph import compile_spec
    from routegraph.spec.schema import Spec

    path = Path(__file__).resolve().parents[1] / "specs" / "chain_8layer.yaml"
    if path.exists():
        try:
            from routegraph.spec.loader import load_spec

            return compile_spec(load_spec(path), k_cpt_input=k_cpt_input), str(path.name)
        except Exception as exc:  # fall back, but say so
            print(f"note: could not use {path} ({type(exc).__name__}: {exc}); building the chain in Python")
    return compile_spec(Spec(**chain_spec_dict()), k_cpt_input=k_cpt_input), "chain_spec_dict() (benchmarks/chain.py)"


class DirectMultiscale(nn.Module):
    """A multiscale convolution written the way one would by hand (eval-mode BN, no folding)."""

    def __init__(self, cins: list[int], couts: list[int], eps: float = 1e-6):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(ci, co, 3, padding=1, bias=False) for ci, co in zip(cins, couts))
        self.vertical = nn.ModuleList(nn.Conv2d(p, co, 3, padding=1, bias=False) for p, co in zip(couts, couts[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(co, eps=eps) for co in couts)

    def forward(self, levels):
        out, previous = [], None
        for t, x in enumerate(levels):
            y = self.lateral[t](x)
            if t:
                y = y + self.vertical[t - 1](F.max_pool2d(previous, 2))
            previous = F.relu(self.norms[t](y))
            out.append(previous)
        return out


class DirectChain(nn.Module):
    """The static eight-layer network (exit after layer 8), plain PyTorch."""

    def __init__(self, classes: int = 10, width: int = 1):
        super().__init__()
        layers, cin = [], [3] * 4
        for channels in CHANNELS:
            couts = [c * width for c in channels]
            layers.append(DirectMultiscale(cin[-len(couts):], couts))
            cin = couts
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Linear(CHANNELS[-1][-1] * width * 16, classes)

    def forward(self, x):
        levels = [x] + [F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False) for s in (16, 8, 4)]
        for layer in self.layers:
            levels = layer(levels[-len(layer.lateral):])
        return self.classifier(levels[-1].flatten(1))

    def load_from(self, model, classifier: str | None = None) -> "DirectChain":
        """Copy eval weights from a routegraph model of the chain: its multiscale layers
        along ``classifier``'s path (default: the deepest) and that classifier."""
        from routegraph.nn import module_key

        graph = model.graph
        classifier = classifier or graph.classifiers[-1]
        layers = [n for n in graph.path(classifier).nodes if graph.node(n).kind == "multiscale_conv"]
        if len(layers) != len(self.layers):
            raise ValueError(f"{len(layers)} multiscale layers on the path, expected {len(self.layers)}")
        with torch.no_grad():
            for layer, name in zip(self.layers, layers):
                src = model.nodes[module_key(name)]
                for mine, theirs in zip(layer.lateral, src.lateral):
                    mine.weight.copy_(theirs.conv.weight)
                for mine, theirs in zip(layer.vertical, src.vertical):
                    mine.weight.copy_(theirs.conv.weight)
                for mine, theirs in zip(layer.norms, src.norms):
                    mine.load_state_dict(theirs.state_dict())
            self.classifier.load_state_dict(model.nodes[module_key(classifier)].state_dict())
        return self
