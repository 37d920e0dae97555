"""The training benchmark's baseline: the same networks, loss and SGD step written
directly in PyTorch, with no routegraph import (the pyramid, multiscale convs,
heads, routers, actor loss, TALR and SGD), and the hyperparameters both sides use."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chain import DirectMultiscale

BATCH = 128
LR, MOMENTUM, K_L2, K_DEC, TAU, EPS_BN = 0.01, 0.9, 1e-4, 0.01, 1.0, 1e-6
K_CPT = 4e-9
CHAIN = [(16, 4), (16, 4), (32, 3), (32, 3), (64, 2), (64, 2), (128, 1), (128, 1)]  # (channels, scales)


class PlainMultiscale(DirectMultiscale):
    """One multiscale layer: lateral conv per scale, + vertical conv of the pooled finer output; BN; ReLU."""

    def __init__(self, cins: list[int], cout: int):
        super().__init__(cins, [cout] * len(cins), eps=EPS_BN)
        for conv in [*self.lateral, *self.vertical]:
            nn.init.xavier_uniform_(conv.weight)


def plain_router(features: int, sinks: int) -> nn.Sequential:
    last = nn.Linear(16, sinks)
    nn.init.zeros_(last.weight)
    return nn.Sequential(nn.Linear(features, 16), nn.BatchNorm1d(16, eps=EPS_BN), nn.ReLU(),
                         nn.Linear(16, 16), nn.BatchNorm1d(16, eps=EPS_BN), nn.ReLU(), last)


class PlainNode(nn.Module):
    """A layer of the tree, its classifier and (if it has children) its router over
    {classify here, child 1, ..., child k}."""

    def __init__(self, depth: int, cins: list[int], branching: list[int], classes: int = 10):
        super().__init__()
        channels, scales = CHAIN[depth]
        cins = cins[-scales:]
        self.layer = PlainMultiscale(cins, channels)
        side = 32 // 2 ** (4 - scales)  # finest output scale
        sizes = [side // 2 ** i for i in range(scales)]
        self.ops = sum(s * s * 9 * (c + (channels if i else 0)) * channels for i, (s, c) in enumerate(zip(sizes, cins)))
        features = channels * 16
        self.classifier = nn.Linear(features, classes)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)
        n_children = branching[depth] if depth + 1 < len(CHAIN) else 0
        self.children_ = nn.ModuleList(PlainNode(depth + 1, [channels] * scales, branching, classes)
                                       for _ in range(n_children))
        self.router = plain_router(features, n_children + 1) if n_children else None


class PlainTreeNet(nn.Module):
    """The chain (branching 1 everywhere) or the branching tree (3-way after layers 1-3)."""

    def __init__(self, branching: list[int] | None = None, routed: bool = True, classes: int = 10):
        super().__init__()
        branching = branching or [1] * len(CHAIN)
        self.root = PlainNode(0, [3, 3, 3, 3], branching if routed else [1] * len(CHAIN), classes)
        self.routed = routed
        if not routed:  # the static chain: no routers, one classifier after layer 8
            node = self.root
            while node is not None:
                node.router = None
                if node.children_:
                    node.classifier = None
                node = node.children_[0] if node.children_ else None

    def nodes(self):
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children_)

    def forward(self, x):
        """Yields per node: (node, logits or None, router scores or None)."""
        levels = [x] + [F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False) for s in (16, 8, 4)]
        results = []
        stack = [(self.root, levels)]
        while stack:
            node, inputs = stack.pop()
            outputs = node.layer(inputs[-len(node.layer.lateral):])
            desc = outputs[-1].flatten(1)
            logits = node.classifier(desc) if node.classifier is not None else None
            scores = node.router(desc) if node.router is not None else None
            results.append((node, logits, scores))
            stack.extend((child, outputs) for child in node.children_)
        return results


class PlainStep:
    """One SGD step of the plain network: static cross-entropy or the actor loss
    (expected error + k_cpt * expected ops + k_dec * decisiveness) + c_mod, TALR."""

    def __init__(self, net: PlainTreeNet):
        self.net = net
        self.optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
        self.nodes = list(net.nodes())
        self.own = {}  # node -> (its conv/linear weights, all its parameters), children excluded
        for node in self.nodes:
            parts = [node.layer, node.classifier, node.router]
            params = [p for part in parts if part is not None for p in part.parameters()]
            weights = [m.weight for part in parts if part is not None for m in part.modules()
                       if isinstance(m, (nn.Conv2d, nn.Linear))]
            self.own[id(node)] = (weights, params)

    def __call__(self, images, labels):
        net = self.net
        results = net(images)
        p = {id(net.root): images.new_ones(len(labels))}
        loss = images.new_zeros(len(labels))
        reach = {}
        for node, logits, scores in results:  # parents come before children
            p_node = p[id(node)]
            reach[id(node)] = p_node
            loss = loss + p_node * K_CPT * node.ops
            if scores is None:  # static: the only child gets all of p
                if logits is not None:
                    loss = loss + p_node * F.cross_entropy(logits, labels, reduction="none")
                for child in node.children_:
                    p[id(child)] = p_node
                continue
            pi = torch.softmax(scores / TAU, dim=1)
            loss = loss + p_node * pi[:, 0] * F.cross_entropy(logits, labels, reduction="none")
            loss = loss + K_DEC * p_node.detach() * scores.pow(2).sum(1)
            for i, child in enumerate(node.children_):
                p[id(child)] = p_node * pi[:, i + 1]
        loss = loss.mean()
        c_mod = 0.0
        for node in self.nodes:
            weights, _ = self.own[id(node)]
            c_mod = c_mod + reach[id(node)].detach().mean() * sum(w.pow(2).sum() for w in weights)
        loss = loss + K_L2 * c_mod
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():  # TALR: node gradients times 1 / rms(p)
            for node in self.nodes:
                scale = reach[id(node)].pow(2).mean().rsqrt().item()
                if scale != 1.0:
                    for param in self.own[id(node)][1]:
                        if param.grad is not None:
                            param.grad.mul_(scale)
        self.optimizer.step()
        return loss.item()


def plain_runner(step: PlainStep, stream, steps: int):
    state = {"t": 0}

    def run():
        for _ in range(steps):
            images, labels = stream.batch(state["t"])
            step(images, labels)
            state["t"] += 1
    return run
