"""Path-only execution of an exported folder with numpy and ONNX Runtime: no torch.

The same walk as :func:`routegraph.infer.route`: the batch enters the root region's graph; at
each junction the router scores pick a sink per example (argmax, or ``force``), one stable
argsort splits the batch into a sub-batch per sink, each child region runs on its own rows,
and only the tensors its subtree reads are gathered (the manifest lists them). A sink nobody
picked is skipped; when every example picks the same sink, the batch passes on uncopied. Each
example is charged its exit classifier's path ops, exactly as the compiled graph counts them.

A ``dense`` export is one graph computing every exit and score; its routing is the same
argmax walk, done on those outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DeployError

#: The k_cpt column a region graph reads, and the router scores among a junction region's outputs.
K_COLUMN, SCORES = "k_cpt_column", "scores"


@dataclass
class DeployOutput:
    """One row per example: ``predictions`` (int64 class), ``exit`` (int64 index into
    ``classifiers``), ``exits`` (the exit classifier's name), ``ops`` (int64 multiply-accumulates
    of its path, routers included), ``logits`` (float32 ``[N, classes]`` of its exit classifier;
    None when the classifiers disagree on the number of classes)."""

    predictions: np.ndarray
    exit: np.ndarray
    ops: np.ndarray
    logits: np.ndarray | None
    classifiers: tuple[str, ...]

    @property
    def exits(self) -> list[str]:
        return [self.classifiers[i] for i in self.exit.tolist()]

    @property
    def mean_ops(self) -> float:
        return float(self.ops.mean()) if len(self.ops) else 0.0


def k_column(k_cpt, scale: float, n: int) -> np.ndarray:
    """``[n, 1]`` float32 ``scale * k_cpt``, the product taken in float32 as the torch side does
    (:func:`routegraph.k_cpt.router_input`), so that routers read the same bits.

    >>> k_column(4e-9, 1e7, 2).ravel().tolist()
    [0.03999999910593033, 0.03999999910593033]
    """
    k = np.asarray(k_cpt, dtype=np.float32).reshape(-1)
    if k.size not in (1, n):
        raise DeployError(f"k_cpt has {k.size} values for {n} inputs")
    column = (np.float32(scale) * k).astype(np.float32).reshape(-1, 1)
    return np.ascontiguousarray(np.broadcast_to(column, (n, 1)))


def run_regions(sessions, manifest: dict, x: np.ndarray, k, forced: dict[int, np.ndarray] | None) -> tuple:
    """``(leaves, n)``: per leaf reached, ``(leaf, rows or None, logits)`` for one chunk ``x``."""
    regions = manifest["regions"]
    n = len(x)
    leaves = []
    stack = [(0, {manifest["input"]["name"]: x}, None, n, k)]
    while stack:
        r, values, idx, count, kc = stack.pop()
        region = regions[r]
        feeds = {name: (kc if name == K_COLUMN else values[name]) for name in region["inputs"]}
        values.update(zip(region["outputs"], sessions[r].run(region["outputs"], feeds)))
        if region["leaf"] >= 0:
            leaves.append((region["leaf"], idx, values[region["outputs"][0]]))
            continue
        children = region["children"]
        if forced is not None and region["junction"] in forced:
            d = forced[region["junction"]]
            d = d if idx is None else d[idx]
        else:
            d = values[SCORES].argmax(1)
        if count == 1:
            stack.append((children[int(d[0])], values, idx, 1, kc))
            continue
        counts = np.bincount(d, minlength=len(children))
        taken = np.flatnonzero(counts)
        if len(taken) == 1:  # every example goes the same way: no copies
            stack.append((children[taken[0]], values, idx, count, kc))
            continue
        parts = np.split(np.argsort(d, kind="stable"), np.cumsum(counts)[:-1])
        for i in taken[::-1]:
            part = parts[i]
            sub = {name: values[name].take(part, axis=0) for name in region["gathers"][i]}
            sub_k = None if kc is None else kc.take(part, axis=0)
            stack.append((children[i], sub, part if idx is None else idx[part], len(part), sub_k))
    return leaves


def route_dense(manifest: dict, outputs: list[np.ndarray], forced) -> tuple:
    """The argmax walk on a dense graph's outputs (logits per classifier, then scores per junction)."""
    regions = manifest["regions"]
    n_leaves = len(manifest["classifiers"])
    logits, scores = outputs[:n_leaves], outputs[n_leaves:]
    n = len(logits[0])
    at = np.zeros(n, dtype=np.int64)
    exit_ = np.full(n, -1, dtype=np.int64)
    order = [0]
    while order:
        r = order.pop()
        region = regions[r]
        rows = np.flatnonzero(at == r)
        if region["leaf"] >= 0:
            exit_[rows] = region["leaf"]
            continue
        j = region["junction"]
        d = forced[j][rows] if forced is not None and j in forced else scores[j][rows].argmax(1)
        at[rows] = np.asarray(region["children"], dtype=np.int64)[d]
        order.extend(region["children"])
    return [(leaf, np.flatnonzero(exit_ == leaf), logits[leaf][exit_ == leaf]) for leaf in range(n_leaves)]
