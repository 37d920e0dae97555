"""Training in Python on the user's arrays: ``Task.from_arrays`` -> ``Trainer`` -> ``route``, for inputs of
every rank the built-in kinds take ([F] vectors; [C, H, W] maps of 2 channels, not square)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from npz_arrays import CLASSES, arrays

from routegraph.data import Task
from routegraph.graph import compile_spec
from routegraph.infer import route
from routegraph.nn.model import build_model
from routegraph.spec import load_spec
from routegraph.train.config import TrainConfig
from routegraph.train.loop import Trainer
from routegraph.train.strategies import strategy_from_config

FIXTURES = Path(__file__).parents[1] / "cli" / "fixtures"


@pytest.mark.parametrize("spec, shape", [("mlp_12.yaml", (12,)), ("tiny_chain_2x20x28.yaml", (2, 20, 28))],
                         ids=["features", "2-channel maps"])
def test_a_task_from_arrays_trains_and_routes(spec, shape):
    keys = arrays(shape, n_train=8, n_test=4)
    task = Task.from_arrays(keys["x_train"], keys["y_train"], keys["x_test"], keys["y_test"],
                            class_names=CLASSES).with_validation(0.25)
    torch.manual_seed(0)
    model = build_model(compile_spec(load_spec(FIXTURES / spec)))
    config = TrainConfig(method="actor", iterations=3, batch_size=6, checkpoint_every=0)
    before = [p.detach().clone() for p in model.parameters()]
    Trainer(model, strategy_from_config(config), task, config=config).fit()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))  # it trained
    out = route(model.eval(), task.test_images)
    assert out.predictions.shape == (12,) and set(out.predictions.tolist()) <= {0, 1, 2}
    assert set(out.ops.tolist()) <= {p.ops for p in model.graph.paths}  # each example paid for one path
