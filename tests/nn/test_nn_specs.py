"""Every shipped spec and every layer kind builds, runs densely and back-propagates."""
from pathlib import Path

import pytest
import torch

from routegraph.graph import compile_spec
from routegraph.nn import MODULE_BUILDERS, build_model
from routegraph.spec import load_spec
from routegraph.spec.schema import LAYER_KINDS

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))


def test_specs_exist():
    assert len(SPECS) >= 3


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
@pytest.mark.parametrize("k_cpt_input", [False, True], ids=["fixed", "dynamic"])
def test_spec_compiles_runs_and_backpropagates(path, k_cpt_input):
    graph = compile_spec(load_spec(path), k_cpt_input=k_cpt_input)
    model = build_model(graph)
    x = torch.rand(2, *graph.input_shape.dims)
    out = model(x, torch.tensor([0.0, 4e-9]) if k_cpt_input else None)
    assert set(out.logits) == set(graph.classifiers)
    assert set(out.scores) == {j.name for j in graph.junctions}
    loss = sum(l.pow(2).mean() for l in out.logits.values()) + sum(s.sum() for s in out.scores.values())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    for tensor in list(out.logits.values()) + list(out.scores.values()):
        assert torch.isfinite(tensor).all()
    assert sum(p.numel() for p in model.parameters()) == graph.total_params


def test_every_layer_kind_has_a_builder_and_a_shape_rule():
    from routegraph.graph.layers import SHAPE_RULES

    for kind in LAYER_KINDS + ("classifier",):
        assert kind in MODULE_BUILDERS and kind in SHAPE_RULES, kind


def test_paper_initialisation():
    graph = compile_spec(load_spec(SPECS[0].parent / "chain_8layer.yaml"))
    model = build_model(graph)
    for router in model.routers.values():
        assert torch.count_nonzero(router.layers[-1].weight) == 0  # last router layer starts at zero
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.bias is not None:
            assert torch.count_nonzero(module.bias) == 0, name
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            assert module.eps == 1e-6 and module.momentum == pytest.approx(0.1), name
