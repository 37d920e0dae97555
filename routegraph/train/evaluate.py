"""Evaluation under the inference (argmax) policy, computed densely by
:func:`routegraph.infer.dense_route` (tested to agree with path-only ``route()``).

Produces one evaluation record in the format of ``docs/run-format.md``:
error rate, mean op count (routers included), per classifier the fraction of
examples that end there, its accuracy and counts by class, and per junction
the decision histogram.

>>> stats = evaluate(model, task.test_images, task.test_labels, k_cpt=4e-9)   # doctest: +SKIP
>>> stats["error_rate"], stats["mean_ops"]                                    # doctest: +SKIP
"""
from __future__ import annotations

import torch

from ..checks import POSITIVE_INT, check_k_cpt
from ..graph.layering import classifier_layers
from ..infer.dense import dense_route
from ..nn.model import RoutedNetwork
from ..nn.precision import check_precision, resolve
from ..routing import RegionTables, path_ops
from .fast import heap_untuned


def summarize(graph, predictions, leaves, decisions, labels, k_cpt, num_classes: int, split: str = "test") -> dict:
    """Build the evaluation record from routed predictions: ``leaves`` index ``graph.classifiers``,
    ``decisions`` per junction hold -1 where an example does not pass it (:class:`RoutedOutput`)."""
    plan = RegionTables(graph)
    ops = path_ops(plan).double()
    n = len(labels)
    correct = predictions == labels
    record = {
        "k_cpt": None if k_cpt is None else float(k_cpt),
        "split": split,
        "n": n,
        "error_rate": 1.0 - correct.double().mean().item() if n else 0.0,
        "mean_ops": ops[leaves].mean().item() if n else 0.0,
        "full_ops": ops.max().item(),
        "classifiers": {},
        "junctions": {},
    }
    layers = classifier_layers(graph)
    for index, classifier in enumerate(plan.classifiers):
        here = leaves == index
        count = int(here.sum())
        path = graph.path(classifier)
        record["classifiers"][classifier] = {
            "layer": layers[classifier],  # from the graph's regions (a static net: its layer in the routed one)
            "depth": len(path.decisions),  # routing decisions on the path (l7.exit and l8.exit: 7 each)
            "path_ops": int(path.ops),
            "count": count,
            "fraction": count / n if n else 0.0,
            "accuracy": correct[here].double().mean().item() if count else None,
            "correct_by_class": torch.bincount(labels[here & correct], minlength=num_classes).tolist(),
            "incorrect_by_class": torch.bincount(labels[here & ~correct], minlength=num_classes).tolist(),
        }
    for junction in graph.junctions:
        chosen = decisions[junction.name]  # -1 where the example's route does not pass the junction
        record["junctions"][junction.name] = {
            "histogram": torch.bincount(chosen[chosen >= 0], minlength=len(junction.sinks)).tolist()
        }
    return record


def evaluate(model: RoutedNetwork, images, labels, k_cpt=None, *, batch_size: int = 500, split: str = "test",
             num_classes: int | None = None, precision: str = "fp32") -> dict:
    """Evaluate ``model`` with the inference policy; see the module docstring. ``images``: a tensor,
    or an index-based view (:meth:`routegraph.data.Task.view`), read ``batch_size`` at a time.
    ``precision``: fp32 or bf16 (:mod:`routegraph.nn.precision`); the record says which."""
    if k_cpt is not None:
        k_cpt = check_k_cpt(k_cpt)
    POSITIVE_INT.check(batch_size, "batch_size")
    check_precision(precision)
    if precision not in ("fp32", "bf16"):  # 'auto': time the first batch both ways
        first = images[:batch_size]
        precision = resolve(precision, model, len(first),
                            lambda p: dense_route(model, first, k_cpt, precision=p), "evaluate")[0]
    with heap_untuned():  # many batches would otherwise fragment the training's untrimmed heap
        out = dense_route(model, images, k_cpt, batch_size=batch_size, precision=precision)
    classes = num_classes or model.graph.num_classes
    record = summarize(model.graph, out.predictions, out.exit, out.decisions, labels.long(), k_cpt, classes, split)
    return record if precision == "fp32" else {**record, "precision": precision}
