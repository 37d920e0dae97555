"""Routed inference treats module nodes like any other node: on a routed transformer over
[T, D] sequences (torch.nn modules as nodes, a 3-way junction), each path's compiled ops equal
the multiply-accumulates FlopCounterMode counts around ``route()`` forced down that path, and
path-only inference agrees with the dense network."""
from __future__ import annotations

import pytest
import torch

from infer_helpers import counted_macs, randomize
from routegraph.graph import compile_spec
from routegraph.infer import route
from routegraph.nn import build_model
from routegraph.spec import loads_spec

T, D = 6, 16
ENCODER = f'target: "torch.nn:TransformerEncoderLayer", args: {{d_model: {D}, nhead: 4, dim_feedforward: 32, batch_first: true}}'
SPEC = f"""
name: routed_transformer
input: {{name: seq, shape: [{T}, {D}]}}
nodes:
  - {{name: enc1, kind: module, input: seq, {ENCODER}}}
  - {{name: desc1, kind: flatten, input: enc1}}
  - name: j
    kind: junction
    router: {{reads: desc1, layers: [{{kind: linear, features: 3}}]}}
    sinks: [exit1, enc2, mlp]
  - {{name: exit1, kind: classifier, input: desc1, classes: 4}}
  - {{name: enc2, kind: module, input: enc1, {ENCODER}}}
  - {{name: enc3, kind: module, input: enc2, {ENCODER}}}
  - {{name: norm, kind: module, input: enc3, target: "torch.nn:LayerNorm", args: {{normalized_shape: {D}}}}}
  - {{name: desc2, kind: flatten, input: norm}}
  - {{name: exit2, kind: classifier, input: desc2, classes: 4}}
  - {{name: mlp, kind: module, input: desc1, target: "torch.nn:Linear", args: {{in_features: {T * D}, out_features: 24}}}}
  - {{name: gelu, kind: module, input: mlp, target: "torch.nn:GELU"}}
  - {{name: exit3, kind: classifier, input: gelu, classes: 4}}
"""


@pytest.fixture(scope="module")
def model():
    graph = compile_spec(loads_spec(SPEC, file="transformer.yaml"))
    torch.manual_seed(0)
    return randomize(build_model(graph), seed=3)


def test_paths_differ(model):
    ops = [p.ops for p in model.graph.paths]
    assert len(set(ops)) == 3 and all(o > 0 for o in ops)


@pytest.mark.parametrize("batch", [1, 5])
def test_each_forced_path_costs_its_compiled_ops(model, batch):
    x = torch.randn(batch, T, D, generator=torch.Generator().manual_seed(batch))
    for k, path in enumerate(model.graph.paths):
        force = {"j": torch.full((batch,), path.decisions[0][1], dtype=torch.long)}
        macs, out = counted_macs(lambda: route(model, x, force=force))
        assert out.exit.tolist() == [k] * batch
        assert macs == batch * path.ops == out.total_ops


def test_a_mix_of_paths_costs_the_sum(model):
    x = torch.randn(9, T, D, generator=torch.Generator().manual_seed(1))
    sinks = torch.tensor([0, 1, 2, 2, 1, 0, 1, 2, 0])
    macs, out = counted_macs(lambda: route(model, x, force={"j": sinks}))
    assert out.exit.tolist() == sinks.tolist()
    assert macs == sum(model.graph.paths[e].ops for e in sinks.tolist())


def test_path_only_inference_agrees_with_the_dense_network(model):
    x = torch.randn(16, T, D, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        dense = model.eval()(x)
    routed = route(model, x)
    choice = dense.scores["j"].argmax(1)
    assert torch.equal(routed.decisions["j"], choice)
    classifiers = model.graph.classifiers
    for i, e in enumerate(routed.exit.tolist()):
        torch.testing.assert_close(routed.logits[i], dense.logits[classifiers[e]][i], rtol=1e-4, atol=1e-5)
