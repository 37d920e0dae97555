"""RegionTables: the index tensors of a region tree, built once per compiled graph.

Every routing computation (policies, costs, targets) runs over the *region
tree* of a :class:`~routegraph.graph.compiled.CompiledGraph`: region 0 is the
root, sink ``i`` of junction ``j`` opens region ``j.sink_regions[i]``, and each
region ends in one junction (an inner region) or one classifier (a leaf).

:class:`RegionTables` walks that tree once, checks it, and stores the tables
that turn the per-step work into a handful of batched tensor ops. Sizes: R
regions, J junctions, L classifiers, S sinks of all junctions together, A the
largest arity, D the deepest region's depth, P the (region, leaf below) pairs.

========================  ===========  ============================================
attribute                 shape        meaning
========================  ===========  ============================================
``junctions``             J            junction names, ``graph.junctions`` order
``classifiers``           L            classifier names, ``graph.paths`` order
``arities``               J            number of sinks of each junction
``region_parent``         R            parent region (-1 for the root)
``region_depth``          R            number of junctions above the region
``region_ops``            R (f64)      ops of the region (owned nodes + router)
``leaf_fraction``         R (f64)      leaves(r) / leaves(root)
``subtree``               R x R        ``subtree[a, b]``: b is at or below a
``leaf_regions``          L            region of each classifier
``region_leaf_index``     R            column of a leaf region in ``leaf_err``, else -1
``leaf_below``            R x L        leaf l is at or below region r
``ops_to_leaf``           R x L (f64)  ops of the regions from r (inclusive) down to
                                       leaf l (inclusive); 0 where l is not below r
``pair_region``           P            region of each (region, leaf below it) pair
``pair_leaf``             P            leaf (column) of each pair
``pair_ops``              P (f64)      ``ops_to_leaf`` of each pair
``junction_region``       J            region the junction sits in (and ends)
``junction_sink_regions`` J x (n_j)    sink regions of each junction, in sink order
``sink_region``           S            region opened by each sink column; the S
                                       columns are all junctions' sinks concatenated
``sink_parent_region``    S            region of that sink's junction
``sink_slot``             S            ``j * A + i``: the column's place in a padded
                                       [J, A] layout (one softmax for all junctions)
``ancestor_columns``      R x D        sink columns on the way root -> r, padded with S
``next_region``           R x A        region reached by sink a of r's junction (a
                                       leaf maps to itself)
``region_junction``       R            index of the junction ending r; J for a leaf
========================  ===========  ============================================

Column ``S`` (one past the last sink column) stands for a column of ones
appended to the concatenated sink probabilities, so ``ancestor_columns`` can be
gathered and multiplied without special cases.

Operation counts are summed as Python integers and stored as float64, which
represents every integer below 2**53 exactly.

>>> plan = RegionTables(graph)                        # doctest: +SKIP
>>> plan.num_regions, plan.classifiers               # doctest: +SKIP
(3, ('exit_early', 'exit_late'))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from routegraph.graph.compiled import CompiledGraph

_INDEX_TENSORS = (
    "region_parent", "region_depth", "leaf_regions", "region_leaf_index", "junction_region",
    "sink_region", "sink_parent_region", "sink_slot", "ancestor_columns", "next_region",
    "region_junction", "pair_region", "pair_leaf",
)
_VALUE_TENSORS = ("region_ops", "leaf_fraction", "subtree", "leaf_below", "ops_to_leaf", "pair_ops")


@dataclass
class _Tree:
    """The region tree as plain Python lists, checked against the graph."""

    parent: list[int]  # per region; -1 for the root
    sink_column: list[int]  # per region: its column among all sinks; S for the root
    region_junction: list[int]  # per region: index of the junction ending it; J for a leaf
    chain: list[list[int]]  # per region: the regions root -> r
    leaf_regions: list[int]  # per classifier, in graph.paths order
    ops: list[int]  # per region


def _walk(graph: "CompiledGraph") -> _Tree:
    """Link regions to their junctions and check every invariant the routing code relies on."""
    regions, junctions = graph.regions, graph.junctions
    R, S = len(regions), sum(len(j.sink_regions) for j in junctions)
    if R == 0 or regions[0].parent is not None:
        raise ValueError("region 0 must be the root region (no parent)")
    for k, region in enumerate(regions):
        if region.id != k:
            raise ValueError(f"region at position {k} has id {region.id}")
        if (region.junction is None) == (region.classifier is None):
            raise ValueError(f"region {k} must end with exactly one junction or one classifier")
    parent, sink_column, region_junction = [-1] * R, [S] * R, [len(junctions)] * R
    column = 0
    for jx, j in enumerate(junctions):
        if not 0 <= j.region < R or regions[j.region].junction != j.name:
            raise ValueError(f"junction {j.name!r}: region {j.region} does not end with it")
        if len(j.sink_regions) != len(j.sinks):
            raise ValueError(f"junction {j.name!r}: {len(j.sinks)} sinks, {len(j.sink_regions)} sink regions")
        if tuple(regions[j.region].children) != tuple(j.sink_regions):
            raise ValueError(f"junction {j.name!r}: sink regions {j.sink_regions} differ from "
                             f"region {j.region}'s children {regions[j.region].children}")
        region_junction[j.region] = jx
        for i, child in enumerate(j.sink_regions):
            if not j.region < child < R:
                raise ValueError(f"junction {j.name!r}: sink region {child} must come after "
                                 f"region {j.region} (parents before children)")
            if parent[child] != -1:
                raise ValueError(f"region {child} is opened by two sinks")
            if regions[child].parent != (j.name, i):
                raise ValueError(f"region {child}: parent {regions[child].parent} != {(j.name, i)}")
            parent[child], sink_column[child] = j.region, column + i
        column += len(j.sink_regions)
    orphans = [r for r in range(1, R) if parent[r] == -1]
    if orphans:
        raise ValueError(f"regions {orphans} are not opened by any junction sink")

    chain = [[0]]
    for r in range(1, R):
        chain.append(chain[parent[r]] + [r])
    ops = [int(region.ops) for region in regions]
    leaf_regions = [p.region for p in graph.paths]
    if sorted(leaf_regions) != [r for r in range(R) if regions[r].classifier is not None]:
        raise ValueError("every leaf region needs exactly one path, and vice versa")
    for path in graph.paths:
        if regions[path.region].classifier != path.classifier:
            raise ValueError(f"path {path.classifier!r}: region {path.region} does not end with it")
        if tuple(path.regions) != tuple(chain[path.region]):
            raise ValueError(f"path {path.classifier!r}: regions {path.regions} != {tuple(chain[path.region])}")
        if path.ops != sum(ops[a] for a in chain[path.region]):
            raise ValueError(f"path {path.classifier!r}: ops {path.ops} != the sum of its regions' ops")
    leaves = [0] * R
    for leaf in leaf_regions:
        for a in chain[leaf]:
            leaves[a] += 1
    for r, region in enumerate(regions):
        if region.leaves != leaves[r]:
            raise ValueError(f"region {r}: leaves={region.leaves}, but {leaves[r]} leaf regions lie below it")
    return _Tree(parent, sink_column, region_junction, chain, leaf_regions, ops)


class RegionTables:
    """Precomputed index tensors of a compiled graph's region tree (see module doc)."""

    def __init__(self, graph: "CompiledGraph"):
        tree = _walk(graph)
        self.graph = graph
        self.num_regions = R = len(graph.regions)
        self.junctions: tuple[str, ...] = tuple(j.name for j in graph.junctions)
        self.junction_index: dict[str, int] = {name: k for k, name in enumerate(self.junctions)}
        self.classifiers: tuple[str, ...] = tuple(p.classifier for p in graph.paths)
        self.arities: tuple[int, ...] = tuple(len(j.sink_regions) for j in graph.junctions)
        self.num_sinks = sum(self.arities)
        self.max_arity = max(self.arities, default=1)
        depth = [len(c) - 1 for c in tree.chain]
        D = max(depth)
        # pointer doubling: after k rounds a pointer has moved 2**k steps down
        self.doubling_rounds = (max(D, 1) - 1).bit_length()  # smallest k with 2**k >= D

        self.region_parent = torch.tensor(tree.parent)
        self.region_depth = torch.tensor(depth)
        self.region_ops = torch.tensor(tree.ops, dtype=torch.float64)
        leaves = torch.tensor([r.leaves for r in graph.regions], dtype=torch.float64)
        self.leaf_fraction = leaves / leaves[0]
        self.subtree = torch.zeros(R, R, dtype=torch.bool)
        for r in range(R):
            self.subtree[tree.chain[r], r] = True
        self._build_leaf_tables(tree)
        self._build_sink_tables(tree, D)

    def _build_leaf_tables(self, tree: _Tree) -> None:
        R, L = self.num_regions, len(tree.leaf_regions)
        self.leaf_regions = torch.tensor(tree.leaf_regions, dtype=torch.long)
        self.region_leaf_index = torch.full((R,), -1, dtype=torch.long)
        self.region_leaf_index[self.leaf_regions] = torch.arange(L)
        pairs, pair_ops = [], []  # (region, leaf column) with the ops from region down to leaf
        for k, leaf in enumerate(tree.leaf_regions):
            remaining = sum(tree.ops[a] for a in tree.chain[leaf])
            for a in tree.chain[leaf]:
                pairs.append((a, k))
                pair_ops.append(remaining)
                remaining -= tree.ops[a]
        self.pair_region = torch.tensor([a for a, _ in pairs], dtype=torch.long)
        self.pair_leaf = torch.tensor([k for _, k in pairs], dtype=torch.long)
        self.pair_ops = torch.tensor(pair_ops, dtype=torch.float64)  # exact: Python ints -> float64
        self.ops_to_leaf = torch.zeros(R, L, dtype=torch.float64)
        self.ops_to_leaf[self.pair_region, self.pair_leaf] = self.pair_ops
        self.leaf_below = torch.zeros(R, L, dtype=torch.bool)
        self.leaf_below[self.pair_region, self.pair_leaf] = True

    def _build_sink_tables(self, tree: _Tree, D: int) -> None:
        junctions, A, S = self.graph.junctions, self.max_arity, self.num_sinks
        self.junction_region = torch.tensor([j.region for j in junctions], dtype=torch.long)
        self.junction_sink_regions = tuple(torch.tensor(j.sink_regions) for j in junctions)
        self.sink_region = torch.tensor([s for j in junctions for s in j.sink_regions], dtype=torch.long)
        self.sink_parent_region = torch.tensor([j.region for j in junctions for _ in j.sink_regions],
                                               dtype=torch.long)
        self.sink_slot = torch.tensor([jx * A + i for jx, n in enumerate(self.arities) for i in range(n)],
                                      dtype=torch.long)
        columns = [[tree.sink_column[a] for a in chain[1:]] for chain in tree.chain]
        self.ancestor_columns = torch.tensor([c + [S] * (D - len(c)) for c in columns],
                                             dtype=torch.long).reshape(self.num_regions, D)
        self.next_region = torch.arange(self.num_regions).unsqueeze(1).repeat(1, A)
        for j in junctions:
            self.next_region[j.region, : len(j.sink_regions)] = torch.tensor(j.sink_regions)
        self.region_junction = torch.tensor(tree.region_junction)

    # -- conveniences -----------------------------------------------------------
    @property
    def num_junctions(self) -> int:
        return len(self.junctions)

    @property
    def num_leaves(self) -> int:
        return len(self.classifiers)

    def to(self, device: torch.device | str) -> "RegionTables":
        """A shallow copy whose tensors live on ``device`` (call once, not per step)."""
        moved = object.__new__(RegionTables)
        moved.__dict__.update(self.__dict__)
        for name in _INDEX_TENSORS + _VALUE_TENSORS:
            setattr(moved, name, getattr(self, name).to(device))
        moved.junction_sink_regions = tuple(t.to(device) for t in self.junction_sink_regions)
        return moved

    def __repr__(self) -> str:
        return (f"RegionTables({self.graph.name!r}: {self.num_regions} regions, "
                f"{self.num_junctions} junctions, {self.num_leaves} classifiers)")
