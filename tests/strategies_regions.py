"""Hypothesis strategies and brute-force oracles for random region trees.

Reusable by any test that needs a valid :class:`CompiledGraph` region tree
without the compiler (nodes are dummies; only the region tree, names and op
counts are meaningful):

* :func:`graph_from_nested` builds a graph from a nested-list tree, e.g.
  ``[[], [[], []]]`` = a root junction with two sinks: a leaf, and a region
  whose junction has two leaves. Each region owns one body node ``body{r}``
  (a leaf also a classifier ``clf{r}``) and, if inner, junction ``junction{r}``.
* :func:`region_trees` draws random trees (depth 0-3, arity 2-4, op counts up
  to 1e9, region numbering DFS or BFS, classifier order shuffled).
* :func:`any_region_trees` mixes bushy and deep, chain-like trees.
* :func:`routing_cases` draws a tree plus a batch of router scores, classifier
  errors, ``k_cpt`` (shared or per example), ``tau`` and ``eps``.
* ``brute_*``: per-example, per-path Python oracles to test vectorised code against.

Typical use::

    from strategies_regions import routing_cases   # tests/ must be on sys.path

    @given(routing_cases())
    def test_something(case): ...
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from hypothesis import strategies as st

from routegraph.graph.compiled import (
    CompiledGraph,
    CompiledJunction,
    CompiledLayer,
    CompiledNode,
    PathInfo,
    Region,
    TensorShape,
)

#: The reference's k_cpt set (dynamic k_cpt training draws from it).
K_CPT_SET = (0.0, 1e-9, 2e-9, 4e-9, 8e-9, 1.6e-8, 3.2e-8, 6.4e-8)

Nested = list  # a region = list of its children; a leaf = []

_FEATURE = TensorShape((4,))


# -- building graphs --------------------------------------------------------------
def _number(tree: Nested, order: str) -> tuple[list[list[int]], list[int]]:
    """Region ids for a nested tree: children lists by id, and parent ids (-1 for root)."""
    children: list[list[int]] = []
    parents: list[int] = []
    if order == "dfs":
        def visit(sub: Nested, parent: int) -> int:
            rid = len(children)
            children.append([])
            parents.append(parent)
            children[rid] = [visit(c, rid) for c in sub]
            return rid
        visit(tree, -1)
    elif order == "bfs":
        queue = [(tree, -1)]
        subs = []
        while queue:
            sub, parent = queue.pop(0)
            rid = len(children)
            children.append([])
            parents.append(parent)
            subs.append(sub)
            if parent >= 0:
                children[parent].append(rid)
            queue.extend((c, rid) for c in sub)
    else:
        raise ValueError(order)
    return children, parents


def graph_from_nested(
    tree: Nested,
    node_ops: Sequence[int] | None = None,
    router_ops: Sequence[int] | None = None,
    order: str = "dfs",
    path_order: Sequence[int] | None = None,
    num_classes: int = 3,
    name: str = "random_tree",
) -> CompiledGraph:
    """A valid CompiledGraph with the given region tree.

    ``node_ops[r]`` are the ops of region r's owned nodes (a leaf's split between
    its body and its classifier), ``router_ops[r]`` those of the router ending r
    (ignored for leaves). Regions are numbered ``order`` ("dfs" or "bfs");
    ``path_order`` permutes the classifiers (an index into the leaf regions in id order).
    """
    children, parents = _number(tree, order)
    R = len(children)
    node_ops = list(node_ops) if node_ops is not None else [1000 * (r + 1) for r in range(R)]
    router_ops = list(router_ops) if router_ops is not None else [10] * R
    is_leaf = [not c for c in children]
    region_ops = [node_ops[r] + (0 if is_leaf[r] else router_ops[r]) for r in range(R)]

    decisions: list[tuple] = [()] * R
    chain: list[list[int]] = [[0]] * R
    for r in range(1, R):
        p = parents[r]
        decisions[r] = decisions[p] + ((f"junction{p}", children[p].index(r)),)
        chain[r] = chain[p] + [r]
    leaves_below = [0] * R
    for r in range(R):
        if is_leaf[r]:
            for a in chain[r]:
                leaves_below[a] += 1

    leaf_ids = [r for r in range(R) if is_leaf[r]]
    path_order = list(path_order) if path_order is not None else list(range(len(leaf_ids)))
    ordered_leaves = [leaf_ids[k] for k in path_order]

    def body(r: int) -> CompiledNode:
        ops = node_ops[r] - node_ops[r] // 3 if is_leaf[r] else node_ops[r]
        inputs = (f"body{parents[r]}",) if r else ("x",)
        return CompiledNode(f"body{r}", inputs, CompiledLayer("dummy", {}, (_FEATURE,), _FEATURE, ops, 0), r)

    def classifier(r: int) -> CompiledNode:
        out = TensorShape((num_classes,))
        return CompiledNode(f"clf{r}", (f"body{r}",),
                            CompiledLayer("classifier", {"classes": num_classes}, (_FEATURE,), out, node_ops[r] // 3, 0), r)

    nodes = tuple(body(r) for r in range(R)) + tuple(classifier(r) for r in ordered_leaves)
    junctions = tuple(
        CompiledJunction(
            name=f"junction{r}", reads=f"body{r}", sinks=tuple(f"body{c}" for c in children[r]),
            router=(CompiledLayer("linear", {}, (_FEATURE,), TensorShape((len(children[r]),)),
                                  router_ops[r], 0),),
            router_in=_FEATURE, ops=router_ops[r], params=0, region=r, sink_regions=tuple(children[r]),
        )
        for r in range(R) if not is_leaf[r]
    )
    regions = tuple(
        Region(
            id=r,
            parent=decisions[r][-1] if r else None,
            decisions=decisions[r],
            nodes=(f"body{r}",) + ((f"clf{r}",) if is_leaf[r] else ()),
            junction=None if is_leaf[r] else f"junction{r}",
            classifier=f"clf{r}" if is_leaf[r] else None,
            ops=region_ops[r],
            children=tuple(children[r]),
            leaves=leaves_below[r],
        )
        for r in range(R)
    )
    paths = tuple(
        PathInfo(
            classifier=f"clf{r}", region=r, decisions=decisions[r], regions=tuple(chain[r]),
            nodes=tuple(f"body{a}" for a in chain[r]) + (f"clf{r}",),
            junctions=tuple(f"junction{a}" for a in chain[r][:-1]),
            ops=sum(region_ops[a] for a in chain[r]),
        )
        for r in ordered_leaves
    )
    return CompiledGraph(name=name, input_name="x", input_shape=_FEATURE, nodes=nodes,
                         junctions=junctions, regions=regions, paths=paths)


def with_region_ops(graph: CompiledGraph, new_ops: Mapping[int, int]) -> CompiledGraph:
    """``graph`` with region r's total ops set to ``new_ops[r]`` (the change goes to
    its body node), keeping nodes, regions and paths consistent."""
    regions = list(graph.regions)
    delta = {r: new - regions[r].ops for r, new in new_ops.items()}
    for r, d in delta.items():
        regions[r] = dataclasses.replace(regions[r], ops=regions[r].ops + d)

    def adjusted(node: CompiledNode) -> CompiledNode:
        if node.name == f"body{node.region}" and node.region in delta:
            return dataclasses.replace(node, layer=dataclasses.replace(node.layer, ops=node.ops + delta[node.region]))
        return node

    nodes = tuple(adjusted(n) for n in graph.nodes)
    paths = tuple(dataclasses.replace(p, ops=sum(regions[a].ops for a in p.regions)) for p in graph.paths)
    return dataclasses.replace(graph, nodes=nodes, regions=tuple(regions), paths=paths)


# -- strategies -------------------------------------------------------------------
@st.composite
def nested_trees(draw, max_depth: int = 3, max_leaves: int = 16, min_arity: int = 2,
                 max_arity: int = 4) -> Nested:
    """A nested-list region tree; the root is a leaf with probability ~1/10."""
    leaves = [1]

    def grow(depth: int) -> Nested:
        odds = 9 if depth == 0 else 2  # expand if draw(0..odds) > 0; shrinks towards leaves
        if depth >= max_depth or draw(st.integers(0, odds)) == 0:
            return []
        arity = draw(st.integers(min_arity, max_arity))
        if leaves[0] - 1 + arity > max_leaves:
            return []
        leaves[0] += arity - 1
        return [grow(depth + 1) for _ in range(arity)]

    return grow(0)


#: How op counts are drawn: a range per region, mixing scales so sums span 0..~1e10.
OPS_RANGES = {"small": (0, 1000), "large": (0, 10**9), "mixed": None}


@st.composite
def region_trees(draw, max_depth: int = 3, max_leaves: int = 16, min_arity: int = 2,
                 max_arity: int = 4) -> CompiledGraph:
    """A random valid CompiledGraph region tree (see module doc).

    Op counts come from a drawn seed (few hypothesis choices keep generation fast):
    "small" (0..1000), "large" (0..1e9) or "mixed" (each region either); routers 0..1e5.
    """
    tree = draw(nested_trees(max_depth, max_leaves, min_arity, max_arity))
    order = draw(st.sampled_from(["dfs", "bfs"]))
    children = _number(tree, "dfs")[0]
    R, n_leaves = len(children), sum(1 for c in children if not c)
    kind = draw(st.sampled_from(sorted(OPS_RANGES)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    ranges = [OPS_RANGES[kind] or rng.choice([OPS_RANGES["small"], OPS_RANGES["large"]]) for _ in range(R)]
    node_ops = [rng.randint(*bounds) for bounds in ranges]
    router_ops = [rng.randint(0, 10**5) for _ in range(R)]
    path_order = draw(st.permutations(range(n_leaves)))
    return graph_from_nested(tree, node_ops, router_ops, order, path_order)


def any_region_trees() -> st.SearchStrategy[CompiledGraph]:
    """Bushy trees (depth <= 3, arity 2-4) or deep, narrow ones (depth <= 8, like the
    eight-layer chain) where long paths and tiny path probabilities show up."""
    return st.one_of(region_trees(), region_trees(max_depth=8, max_arity=3, max_leaves=10))


@dataclass
class RoutingCase:
    """A region tree with a batch of routing inputs (float64 tensors)."""

    graph: CompiledGraph
    batch: int
    scores: dict[str, torch.Tensor]  # junction -> [B, n_j]
    leaf_err: torch.Tensor  # [B, n_classifiers], graph.paths order
    k_cpt: float | torch.Tensor  # a number or [B]
    tau: float
    eps: float
    seed: int

    def generator(self, salt: int = 1) -> torch.Generator:
        """A torch generator derived from the case's seed, for extra random tensors."""
        return torch.Generator().manual_seed(self.seed * 7919 + salt)


def random_scores(graph: CompiledGraph, batch: int, gen: torch.Generator, scale: float = 1.0,
                  ties: bool = False) -> dict[str, torch.Tensor]:
    """Router scores ``[B, n_j]`` per junction (float64); ``ties`` rounds them to make argmax ties likely."""
    out = {}
    for j in graph.junctions:
        s = torch.randn(batch, len(j.sink_regions), generator=gen, dtype=torch.float64) * scale
        out[j.name] = s.round() if ties else s
    return out


@st.composite
def routing_cases(draw, trees: st.SearchStrategy[CompiledGraph] | None = None,
                  max_batch: int = 6) -> RoutingCase:
    """A random tree, scores, errors, k_cpt (a number from K_CPT_SET or beyond, or per example), tau, eps."""
    graph = draw(trees if trees is not None else any_region_trees())
    batch = draw(st.integers(1, max_batch))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 100.0]))
    scores = random_scores(graph, batch, gen, scale, ties=draw(st.booleans()))
    err_scale = draw(st.sampled_from([0.0, 1.0, 16.0]))
    leaf_err = torch.rand(batch, len(graph.paths), generator=gen, dtype=torch.float64) * err_scale
    k_choices = K_CPT_SET + (1e-6,)
    if draw(st.booleans()):
        k_cpt: float | torch.Tensor = draw(st.sampled_from(k_choices))
    else:  # dynamic k_cpt: one value per example, from the reference set
        picks = torch.randint(0, len(k_choices), (batch,), generator=gen)
        k_cpt = torch.tensor(k_choices, dtype=torch.float64)[picks]
    tau = draw(st.sampled_from([0.01, 0.1, 1.0, 10.0]))
    eps = draw(st.sampled_from([0.0, 1e-6, 1e-3, 0.1]))
    return RoutingCase(graph, batch, scores, leaf_err, k_cpt, tau, eps, seed)


# -- brute-force oracles (pure Python, per example, per path) ------------------
def _k(k_cpt, b: int) -> float:
    return float(k_cpt[b]) if isinstance(k_cpt, torch.Tensor) and k_cpt.dim() == 1 else float(k_cpt)


def brute_path_probability(path: PathInfo, sink_probs: Mapping[str, torch.Tensor], b: int) -> float:
    p = 1.0
    for junction, sink in path.decisions:
        p *= float(sink_probs[junction][b, sink])
    return p


def brute_expected_cost(graph: CompiledGraph, sink_probs, leaf_err, k_cpt) -> torch.Tensor:
    """``[B]``: sum over every root-to-leaf path of P(path) * (err(leaf) + k_cpt * ops(path))."""
    batch = leaf_err.shape[0]
    out = []
    for b in range(batch):
        total = 0.0
        for k, path in enumerate(graph.paths):
            path_cost = float(leaf_err[b, k]) + _k(k_cpt, b) * path.ops
            total += brute_path_probability(path, sink_probs, b) * path_cost
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def brute_walk(graph: CompiledGraph, decisions, b: int, start: int = 0) -> int:
    """The leaf region reached from region ``start`` following ``decisions`` for example ``b``."""
    r = start
    while graph.regions[r].junction is not None:
        j = graph.junction(graph.regions[r].junction)
        r = j.sink_regions[int(decisions[j.name][b])]
    return r


def brute_routed_leaf(graph: CompiledGraph, decisions, batch: int) -> list[int]:
    """Index into ``graph.paths`` of the classifier each example reaches."""
    column = {p.region: k for k, p in enumerate(graph.paths)}
    return [column[brute_walk(graph, decisions, b)] for b in range(batch)]


def brute_cost_from(graph: CompiledGraph, start: int, leaf_k: int, leaf_err, k_cpt, b: int) -> float:
    """err(leaf) + k_cpt * ops of the regions from ``start`` (inclusive) down to the leaf."""
    path = graph.paths[leaf_k]
    below = path.regions[path.regions.index(start):]
    return float(leaf_err[b, leaf_k]) + _k(k_cpt, b) * sum(graph.regions[a].ops for a in below)


def brute_utility_targets(graph: CompiledGraph, leaf_err, k_cpt, kind: str,
                          decisions=None) -> dict[str, torch.Tensor]:
    """Per junction ``[B, n_j]``: minus the pragmatic (walk by ``decisions``) or
    optimistic (best leaf) cost of the subtree below each sink."""
    batch = leaf_err.shape[0]
    column = {p.region: k for k, p in enumerate(graph.paths)}
    out = {}
    for j in graph.junctions:
        u = torch.zeros(batch, len(j.sink_regions), dtype=torch.float64)
        for b in range(batch):
            for i, s in enumerate(j.sink_regions):
                if kind == "pragmatic":
                    reached = column[brute_walk(graph, decisions, b, s)]
                    cost = brute_cost_from(graph, s, reached, leaf_err, k_cpt, b)
                else:
                    cost = min(brute_cost_from(graph, s, k, leaf_err, k_cpt, b)
                               for k, p in enumerate(graph.paths) if s in p.regions)
                u[b, i] = -cost
        out[j.name] = u
    return out
