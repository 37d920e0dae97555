"""Export a routed network to ONNX: one graph per region plus a manifest (``regions``), or one
graph that computes every exit and router score (``dense``).

The ``regions`` folder is what :mod:`routegraph.deploy` runs path-only; ``dense`` is for
runtimes without dynamic control flow (the routing then happens on its outputs). Both have a
dynamic batch axis and BN folded (:mod:`routegraph.infer.fold`). The folder is written beside
its target and renamed into place, so a reader never sees half an export.

>>> from routegraph.train.rundir import load_run                          # doctest: +SKIP
>>> export_model(load_run("runs/ac").model, "deployed/ac")                # doctest: +SKIP
PosixPath('deployed/ac')
"""
from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from ..deploy.manifest import MANIFEST, write_manifest
from ..errors import ConfigError, ExportError
from ..io import atomic_directory
from .regions import K_COLUMN, SCORES, RegionProgram, region_programs

#: The ONNX operator set written (ONNX Runtime 1.14 and newer run it).
OPSET = 17
#: Export formats: what each writes.
FORMATS = {"onnx": "one graph per region and a manifest: path-only execution (routegraph.deploy)",
           "dense": "one graph computing every exit and router score, for runtimes without control flow"}


def export_model(model, folder: str | Path, *, format: str = "onnx", metadata: dict | None = None,
                 opset: int = OPSET) -> Path:
    """Write ``model`` (a :class:`~routegraph.nn.model.RoutedNetwork`) to ``folder`` as ``format``
    (:data:`FORMATS`); ``metadata``: run id, class names, data recipe, kept in the manifest.
    An existing export in ``folder`` is replaced; any other non-empty folder is refused."""
    if format not in FORMATS:
        raise ConfigError(f"export format {format!r} is not known ({', '.join(FORMATS)})")
    folder = Path(folder)
    _check_target(folder)
    model = _float32_eval_copy(model)
    graph = model.graph
    programs = region_programs(model)
    with atomic_directory(folder.with_name(folder.name + ".new")) as tmp:
        if format == "onnx":
            files = [_export_region(p, graph, tmp / f"region{p.id}.onnx", opset) for p in programs]
            regions = [_region_entry(p, f) for p, f in zip(programs, files)]
        else:
            files = [_export_dense(programs, graph, tmp / "dense.onnx", opset)]
            regions = [_region_entry(p, None) for p in programs]
        write_manifest(tmp, {**_describe(graph, metadata or {}), "kind": "regions" if format == "onnx" else "dense",
                             "opset": opset, "exporter": f"torch {torch.__version__}", "regions": regions,
                             "files": files})
    _swap_into_place(folder.with_name(folder.name + ".new"), folder)
    return folder


def _check_target(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise ConfigError(f"{folder}: a folder that holds files but no export; choose another -o (nothing was changed)")


def _swap_into_place(new: Path, folder: Path) -> None:
    """Replace ``folder`` (absent, empty, or an earlier export) by ``new``."""
    if folder.exists():
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
        new.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(folder)


def _float32_eval_copy(model):
    import copy

    model = copy.deepcopy(model).float().eval()
    for p in model.parameters():  # traced as constants: kernels and modules are not registered submodules
        p.requires_grad_(False)
    return model


def _describe(graph, metadata: dict) -> dict:
    num_classes = graph.num_classes
    return {
        "network": graph.name,
        "run_id": metadata.get("run_id"),
        "input": {"name": graph.input_name, "shape": list(graph.input_shape.dims), "dtype": "float32"},
        "data": metadata.get("data"), "data_options": metadata.get("data_options") or {},
        "class_names": list(metadata.get("class_names") or [str(c) for c in range(num_classes)]),
        "classifiers": list(graph.classifiers),
        "classes": [graph.node(c).config["classes"] for c in graph.classifiers],
        "path_ops": [int(p.ops) for p in graph.paths],
        "junctions": [{"name": j.name, "sinks": list(j.sinks)} for j in graph.junctions],
        "k_cpt": {"input": bool(graph.k_cpt_input), "scale": float(graph.k_cpt_scale),
                  "trained": metadata.get("k_cpt"), "trained_set": metadata.get("k_cpt_set")},
    }


def _region_entry(p: RegionProgram, file: str | None) -> dict:
    entry = {"id": p.id, "inputs": p.inputs, "outputs": p.outputs, "reads_k": p.reads_k, "leaf": p.leaf,
             "junction": p.junction, "children": list(p.children), "gathers": [list(g) for g in p.gathers],
             "nodes": list(p.nodes)}
    return entry | ({"file": file} if file else {})


def _dynamic(names) -> dict:
    return {name: {0: "batch"} for name in names}


def _to_onnx(module: nn.Module, example, input_names, output_names, path: Path, opset: int) -> None:
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # attention's fused kernel has no ONNX form; the math path does
    try:
        _trace(module, example, input_names, output_names, path, opset)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _trace(module: nn.Module, example, input_names, output_names, path: Path, opset: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        buffer = io.BytesIO()
        torch.onnx.export(module, tuple(example), buffer, input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=_dynamic(list(input_names) + list(output_names)),
                          opset_version=opset, dynamo=False, do_constant_folding=True)
    path.write_bytes(buffer.getvalue())


def _export_region(p: RegionProgram, graph, path: Path, opset: int) -> str:
    try:
        _to_onnx(p.module, p.example, p.inputs, p.outputs, path, opset)
    except Exception as exc:  # noqa: BLE001 (any exporter failure is reported by node below)
        raise _culprit(p, graph, exc) from exc
    return path.name


def _culprit(p: RegionProgram, graph, exc: Exception) -> ExportError:
    """The first node of region ``p`` that cannot be exported on its own, named, with the exporter's reason."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    values = {name: t for name, t in zip(p.inputs, p.example)}
    module = p.module
    for fn, ins, out, _ in module.steps:
        args = [_rebuild(module, name, values) for name in ins]
        try:
            _to_onnx(_Step(fn), args, [f"i{j}" for j in range(len(args))], ["o"], Path("/dev/null"), OPSET)
        except Exception as step_exc:  # noqa: BLE001
            node = graph.node(out) if out in {n.name for n in graph.nodes} else None
            kind = f" (kind {node.kind})" if node is not None else ""
            why = str(step_exc).strip().splitlines()[0] if str(step_exc).strip() else reason
            return ExportError(f"node {out!r}{kind} cannot be exported to ONNX: {why}")
        with torch.no_grad():
            values[out] = fn(*args)
    where = f"the router of junction {graph.junctions[p.junction].name!r}" if p.junction >= 0 else f"region {p.id}"
    return ExportError(f"{where} cannot be exported to ONNX: {reason}")


def _rebuild(module, name, values):
    if name in values:
        return values[name]
    if name in module.structure:
        return tuple(values.get(f"{name}#{j}") for j in range(module.structure[name]))
    raise KeyError(name)


class _Step(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


class _Dense(nn.Module):
    """Every region in tree order on the whole batch: each classifier's logits, each junction's scores."""

    def __init__(self, programs: list[RegionProgram], graph):
        super().__init__()
        self.programs, self.input_name = programs, graph.input_name
        self.reads_k = graph.k_cpt_input and bool(graph.junctions)

    def forward(self, x, *k):
        values = {self.input_name: x}
        logits, scores = {}, {}
        for p in self.programs:  # a parent region precedes its children
            ins = [values[name] for name in p.inputs if name != K_COLUMN] + ([k[0]] if p.reads_k else [])
            outs = dict(zip(p.outputs, p.module(*ins)))
            if p.leaf >= 0:
                logits[p.leaf] = outs[p.outputs[0]]
            else:
                scores[p.junction] = outs.pop(SCORES)
            values.update(outs)
        return tuple(logits[i] for i in sorted(logits)) + tuple(scores[j] for j in sorted(scores))


def _export_dense(programs: list[RegionProgram], graph, path: Path, opset: int) -> str:
    dense = _Dense(programs, graph)
    example = [programs[0].example[0]] + ([torch.zeros(2, 1)] if dense.reads_k else [])
    inputs = [graph.input_name] + ([K_COLUMN] if dense.reads_k else [])
    outputs = [f"logits:{c}" for c in graph.classifiers] + [f"scores:{j.name}" for j in graph.junctions]
    try:
        _to_onnx(dense, example, inputs, outputs, path, opset)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"network {graph.name!r} cannot be exported to ONNX: {str(exc).strip().splitlines()[0]}") from exc
    return path.name
