"""Evaluation under the inference (argmax) policy.

Produces one evaluation record in the format of ``docs/run-format.md``:
error rate, mean op count (routers included), per classifier the fraction of
examples that end there, its accuracy and counts by class, and per junction
the decision histogram.

>>> stats = evaluate(model, task.test_images, task.test_labels, k_cpt=4e-9)   # doctest: +SKIP
>>> stats["error_rate"], stats["mean_ops"]                                    # doctest: +SKIP
"""
from __future__ import annotations

import torch

from ..graph.layering import classifier_layers
from ..checks import POSITIVE_INT, check_k_cpt
from ..nn.model import RoutedNetwork
from ..routing import RegionTables, inference_policy, path_ops, routed_leaf
from .fast import heap_untuned


@torch.no_grad()
def predict_dense(model: RoutedNetwork, images: torch.Tensor, k_cpt=None, batch_size: int = 500):
    """Argmax-routed predictions computed densely: (predictions, leaf index, decisions)."""
    device = next(model.parameters()).device
    plan = RegionTables(model.graph).to(device)
    was_training = model.training
    model.eval()
    predictions, leaves, decisions = [], [], {j.name: [] for j in model.graph.junctions}
    try:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device).float()
            k = k_cpt if k_cpt is None or not model.graph.k_cpt_input else torch.full((len(x),), float(k_cpt), device=device)
            out = model(x, k)
            chosen = inference_policy(out.scores)
            leaf = routed_leaf(plan, chosen).expand(len(x))  # [1] when there are no junctions
            logits = torch.stack([out.logits[c] for c in plan.classifiers], 1)
            predictions.append(logits[torch.arange(len(x), device=device), leaf].argmax(1).cpu())
            leaves.append(leaf.cpu())
            for j, d in chosen.items():
                decisions[j].append(d.cpu())
    finally:
        model.train(was_training)
    cat = lambda xs: torch.cat(xs) if xs else torch.zeros(0, dtype=torch.long)  # noqa: E731
    return cat(predictions), cat(leaves), {j: cat(d) for j, d in decisions.items()}


def summarize(graph, predictions, leaves, decisions, labels, k_cpt, num_classes: int, split: str = "test") -> dict:
    """Build the evaluation record from routed predictions."""
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
        chosen = decisions[junction.name]
        reached = _reached(graph, junction, leaves, plan)
        record["junctions"][junction.name] = {
            "histogram": torch.bincount(chosen[reached], minlength=len(junction.sinks)).tolist()
        }
    return record


def _reached(graph, junction, leaves, plan) -> torch.Tensor:
    """Examples whose route passes through ``junction``."""
    below = set(graph.subtree_regions(junction.region))
    hits = [i for i, c in enumerate(plan.classifiers) if graph.path(c).region in below]
    return torch.isin(leaves, torch.tensor(hits, dtype=leaves.dtype))


def evaluate(model: RoutedNetwork, images, labels, k_cpt=None, *, batch_size: int = 500, split: str = "test",
             num_classes: int | None = None) -> dict:
    """Evaluate ``model`` with the inference policy; see the module docstring. ``images``: a tensor,
    or an index-based view (:meth:`routegraph.data.Task.view`), read ``batch_size`` at a time."""
    if k_cpt is not None:
        k_cpt = check_k_cpt(k_cpt)
    POSITIVE_INT.check(batch_size, "batch_size")
    with heap_untuned():  # many batches would otherwise fragment the training's untrimmed heap
        predictions, leaves, decisions = predict_dense(model, images, k_cpt, batch_size)
    classes = num_classes or model.graph.num_classes
    return summarize(model.graph, predictions, leaves, decisions, labels.long(), k_cpt, classes, split)
