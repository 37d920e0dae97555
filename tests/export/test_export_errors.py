"""Export refuses what it cannot do, by name, and never leaves half a folder."""
from pathlib import Path

import pytest
import torch
from torch import nn

from infer_helpers import randomize, tiny_chain_graph
from routegraph import deploy
from routegraph.errors import ConfigError, ExportError
from routegraph.export import export_model
from routegraph.graph import compile_spec
from routegraph.nn import build_model
from routegraph.nn.model import module_key
from routegraph.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]


class KthValue(nn.Module):
    """Keeps its input's shape, through an operator (aten::kthvalue) the ONNX exporter has no form for."""

    def forward(self, x):
        return x - 0 * x.kthvalue(1, dim=1, keepdim=True).values


def test_a_node_that_cannot_export_is_named(tmp_path):
    model = randomize(build_model(compile_spec(load_spec(REPO / "specs" / "module_tree.yaml"))), seed=0)
    model.nodes[module_key("deep.gelu")] = KthValue()
    with pytest.raises(ExportError, match=r"node 'deep\.gelu' \(kind module\) cannot be exported to ONNX: .*kthvalue"):
        export_model(model, tmp_path / "net")
    assert not (tmp_path / "net").exists() and list(tmp_path.iterdir()) == []  # nothing half-written


def test_an_earlier_export_is_replaced_and_other_folders_are_refused(tmp_path):
    model = randomize(build_model(tiny_chain_graph()), seed=1)
    target = tmp_path / "net"
    export_model(model, target, format="dense")
    assert sorted(p.name for p in target.iterdir()) == ["dense.onnx", "manifest.json"]
    export_model(model, target)
    assert "dense.onnx" not in {p.name for p in target.iterdir()} and deploy.load(target).kind == "regions"
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="holds files but no export"):
        export_model(model, other)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="format 'tflite' is not known"):
        export_model(model, tmp_path / "x", format="tflite")


def test_the_model_is_left_as_it_was(tmp_path):
    model = randomize(build_model(tiny_chain_graph()), seed=2).double().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_model(model, tmp_path / "net")
    assert model.training and next(model.parameters()).dtype == torch.float64
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
