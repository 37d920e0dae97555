"""The routed transformer example (specs/transformer_routed.yaml, module encoder layers on [T, D]
sequences) trains with every strategy on the example's synthetic arrays (Task.from_arrays), and the
fast mode computes the plain mode's training on rank-2 activations (same losses, same weights)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from tiny_graphs import model_that_routes

from routegraph import compile_spec, load_spec
from routegraph.data import Task
from routegraph.graph import static_baseline
from routegraph.infer import route
from routegraph.train import TrainConfig, Trainer, strategy_from_config
from routegraph.train.fast import fast_mode_of

REPO = Path(__file__).resolve().parents[2]
STEPS = 3


def make_data():
    """examples/transformer/make_data.py, imported from its file (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_data", REPO / "examples" / "transformer" / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_data_is_deterministic_and_labels_by_motif():
    import doctest

    module = make_data()
    assert doctest.testmod(module).failed == 0
    (x1, y1), (x2, y2) = module.sequences(40, seed=7), module.sequences(40, seed=7)
    assert (x1 == x2).all() and (y1 == y2).all()
    motifs = module.sequences(4, seed=0, strength=1e6)[0]  # the motif token dominates: the row of largest norm
    rows = motifs[range(4), abs(motifs).sum(-1).argmax(-1)]
    assert len({tuple((r / abs(r).max()).round(3)) for r in rows}) == 4  # one motif per class


@pytest.fixture(scope="module")
def task():
    keys = make_data().arrays(n_train=64, n_test=16)
    return Task.from_arrays(keys["x_train"], keys["y_train"], keys["x_test"], keys["y_test"],
                            class_names=list(keys["class_names"])).with_validation(0.25)


@pytest.fixture(scope="module")
def graphs():
    spec = load_spec(REPO / "specs" / "transformer_routed.yaml")
    routed = compile_spec(spec)
    return {"routed": routed, "dynamic": compile_spec(spec, k_cpt_input=True),
            "static": static_baseline(routed, routed.classifiers[-1])}


class _Losses:
    def __init__(self):
        self.losses = []

    def on_fit_start(self, trainer): ...
    def on_fit_end(self, trainer): ...

    def on_step_end(self, trainer, stats):
        self.losses.append(stats["loss"])


def _fit(graph, task, fast: bool, **settings):
    config = TrainConfig(iterations=STEPS, batch_size=16, seed=2, lr=0.01, fast=fast, device="cpu",
                         checkpoint_every=0, **settings)
    trainer = Trainer(model_that_routes(graph), strategy_from_config(config), task, config=config)
    record = _Losses()
    trainer.hooks.append(record)
    trainer.fit()
    return trainer, record.losses


METHODS = [("static", "static", {}), ("actor", "routed", {"k_cpt": 1e-7}), ("actor", "dynamic", {"dynamic_k_cpt": True}),
           ("pragmatic_critic", "routed", {"k_cpt": 1e-7}), ("optimistic_critic", "dynamic", {"dynamic_k_cpt": True})]


@pytest.mark.parametrize("method, graph_name, settings", METHODS, ids=[f"{m}-{g}" for m, g, _ in METHODS])
def test_every_strategy_trains_the_transformer(task, graphs, method, graph_name, settings):
    graph = graphs[graph_name]
    torch.manual_seed(0)
    trainer, losses = _fit(graph, task, True, method=method, **settings)
    before = model_that_routes(graph).state_dict()
    assert len(losses) == STEPS and all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items()), "it trained"
    k = 1e-7 if settings.get("dynamic_k_cpt") else None
    out = route(trainer.model, task.test_images, k)
    assert out.predictions.shape == (len(task.test_labels),)
    assert set(out.ops.tolist()) <= {p.ops for p in graph.paths}  # each example paid for one path


@pytest.mark.parametrize("method, graph_name, settings", METHODS[1:3], ids=["fixed", "dynamic"])
def test_fast_mode_gives_the_plain_training_on_sequences(task, graphs, method, graph_name, settings):
    plain, plain_losses = _fit(graphs[graph_name], task, False, method=method, **settings)
    fast, fast_losses = _fit(graphs[graph_name], task, True, method=method, **settings)
    assert fast_mode_of(fast.model)["fused_heads"] and not fast_mode_of(plain.model)["fused_heads"]
    torch.testing.assert_close(torch.tensor(fast_losses), torch.tensor(plain_losses), rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(plain.model.state_dict().items(), fast.model.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4, msg=name)
