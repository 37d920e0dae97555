"""The compiled graph's regions as plain ``nn.Module`` programs, ready to be traced to ONNX.

A region (the layers between two junctions, :mod:`routegraph.graph.regions`) becomes one
:class:`RegionModule`: its steps as the execution plan runs them (BN folded, ReLU fused,
:mod:`routegraph.infer.plan`), its router's score head when it ends at a junction, and as
outputs exactly the tensors its child regions read. Values travel *flat*: a pyramid (a
tuple of levels) becomes one tensor per level, named ``name#level``, so every region input
and output is one ``[batch, ...]`` tensor and the runtime can gather any of them by row.

What each region reads and writes is found by running the plan once on a small example
batch (every child region sees the whole batch), so kinds whose values are tuples, or
that leave pyramid levels empty, need no special case here.

>>> programs = region_programs(model)            # doctest: +SKIP
>>> programs[0].inputs, programs[0].outputs[:2]  # doctest: +SKIP
(['image'], ['scores', 'l1.conv#0'])
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..deploy.runtime import K_COLUMN, SCORES  # the names the runtime feeds and reads (one home)
from ..infer.plan import ExecutionPlan, build_plan
#: Plan options for export: fused and folded as in ``route()``, in plain (NCHW) memory format.
EXPORT_PLAN = {"channels_last": False}


def flat_name(name: str, level: int | None) -> str:
    """``'pyr#1'`` for level 1 of pyramid ``pyr``; a plain tensor keeps its name.

    >>> flat_name("pyramid", 2), flat_name("l1.desc", None)
    ('pyramid#2', 'l1.desc')
    """
    return name if level is None else f"{name}#{level}"


@dataclass
class RegionProgram:
    """One region, as exported: ``module(*inputs) -> outputs`` (flat names, in order);
    ``example``: the example inputs the region was traced with; ``gathers``: per child
    region, the flat names the runtime hands it (row-gathered when the batch splits)."""

    id: int
    module: nn.Module
    inputs: list[str]
    outputs: list[str]
    example: list[torch.Tensor]
    reads_k: bool
    leaf: int = -1
    junction: int = -1
    children: tuple[int, ...] = ()
    gathers: tuple[tuple[str, ...], ...] = ()
    nodes: tuple[str, ...] = ()


class RegionModule(nn.Module):
    """A region's steps (and router) over flat tensors; ``structure`` says how to rebuild each
    tuple value (its length) from its flat levels."""

    def __init__(self, steps, router, reads: str, inputs: list[tuple[str, int | None]], structure: dict[str, int],
                 outputs: list[tuple[str, int | None]], reads_k: bool):
        super().__init__()
        self.steps, self.router, self.reads = steps, router, reads
        self.inputs, self.structure, self.outputs, self.reads_k = inputs, structure, outputs, reads_k

    def forward(self, *flat):
        k = flat[-1] if self.reads_k else None
        values, levels = {}, {}
        for (name, level), tensor in zip(self.inputs, flat):
            if level is None:
                values[name] = tensor
            else:
                levels.setdefault(name, {})[level] = tensor
        for name, present in levels.items():
            values[name] = tuple(present.get(j) for j in range(self.structure[name]))
        for fn, ins, out, _ in self.steps:
            values[out] = fn(*[values[i] for i in ins])
        results = []
        for name, level in self.outputs:
            if name == SCORES:
                results.append(self.router(values[self.reads], k))
            else:
                results.append(values[name] if level is None else values[name][level])
        return tuple(results)


def region_programs(model, batch: int = 2, plan: ExecutionPlan | None = None) -> list[RegionProgram]:
    """Every region of ``model`` (a float32 :class:`~routegraph.nn.model.RoutedNetwork` in eval
    mode) as a :class:`RegionProgram`, in region order."""
    graph = model.graph
    plan = plan or build_plan(model, **EXPORT_PLAN)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, *graph.input_shape.dims, generator=gen, dtype=plan.dtype)
    k = torch.zeros(batch, 1, dtype=plan.dtype)
    programs: dict[int, RegionProgram] = {}
    stack = [(0, {graph.input_name: x})]
    with torch.no_grad():
        while stack:
            r, available = stack.pop()
            programs[r], children_values = _program(plan, graph, r, available, k)
            stack.extend(children_values)
    return [programs[r] for r in sorted(programs)]


def _program(plan: ExecutionPlan, graph, r: int, available: dict, k: torch.Tensor):
    region = plan.regions[r]
    produced_so_far: set[str] = set()
    external: list[str] = []
    for _, ins, out, _ in region.steps:
        external += [i for i in ins if i not in produced_so_far and i not in external]
        produced_so_far.add(out)
    if region.junction >= 0 and region.reads not in produced_so_far and region.reads not in external:
        external.append(region.reads)
    inputs = [(name, level) for name in external for name, level in _pairs(name, available[name])]
    structure = {name: len(available[name]) for name in external if isinstance(available[name], tuple)}
    values = dict(available)
    for fn, ins, out, _ in region.steps:
        values[out] = fn(*[values[i] for i in ins])
    reads_k = region.junction >= 0 and graph.k_cpt_input
    children_values, gathers, outputs = [], [], []
    if region.leaf >= 0:
        outputs = [(region.output, None)]
    else:
        outputs = [(SCORES, None)]
        for c, wanted in zip(region.children, region.gathers):
            sub, names = {}, []
            for name, levels in wanted:
                value = values[name]
                if isinstance(value, tuple):
                    value = tuple(v if levels is None or j in levels else None for j, v in enumerate(value))
                sub[name] = value
                for pair in _pairs(name, value):
                    names.append(flat_name(*pair))
                    if name in produced_so_far and pair not in outputs:
                        outputs.append(pair)
            gathers.append(tuple(names))
            children_values.append((c, sub))
    example = [available[name] if level is None else available[name][level] for name, level in inputs]
    module = RegionModule(region.steps, region.router, region.reads, inputs, structure, outputs, reads_k)
    if reads_k:
        example.append(k)
    nodes = tuple(n.name for n in graph.nodes if n.region == r)
    program = RegionProgram(r, module, [flat_name(*p) for p in inputs] + ([K_COLUMN] if reads_k else []),
                            [flat_name(*p) for p in outputs], example, reads_k, region.leaf, region.junction,
                            tuple(region.children), tuple(gathers), nodes)
    return program, children_values


def _pairs(name: str, value) -> list[tuple[str, int | None]]:
    if isinstance(value, tuple):
        return [(name, j) for j, v in enumerate(value) if v is not None]
    return [(name, None)]
