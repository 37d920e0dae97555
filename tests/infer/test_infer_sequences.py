"""Routed inference on [T, D] sequences with the built-in kinds: path-only == dense argmax, ops ==
FlopCounterMode MACs, with every plan (fused linear kernels on rank-3 activations, BN folded only
into a linear layer on vectors), a fixed and a dynamic k_cpt (whose column joins the first router
linear that reads a vector, after the router pooled the sequence); for one spec written out and for
random sequence specs of every kind that takes sequences (tests/strategies_graphs.py)."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infer_helpers import assert_same_routing, counted_macs, mixed_force, randomize
from routegraph.graph import compile_spec
from routegraph.infer import dense_route, route
from routegraph.infer.plan import build_plan
from routegraph.nn import build_model
from routegraph.spec import loads_spec
from strategies_graphs import any_kind_specs

SPEC = """
name: sequence_kinds
input: {name: seq, shape: [6, 8]}
nodes:
  - {name: tok, kind: linear, input: seq, features: 12}
  - {name: r, kind: relu, input: tok}
  - {name: ln, kind: layernorm, input: r}
  - {name: g, kind: gelu, input: ln}
  - {name: side, kind: linear, input: seq, features: 4, bias: false}
  - {name: cat, kind: concat, input: [g, side]}
  - {name: d, kind: dropout, input: cat, p: 0.3}
  - {name: res, kind: linear, input: d, features: 16}
  - {name: sum, kind: add, input: [res, d]}
  - {name: desc, kind: global_avgpool, input: sum}
  - name: j
    kind: junction
    router:
      reads: sum
      layers:
        - {kind: layernorm}
        - {kind: linear, features: 4}
        - {kind: gelu}
        - {kind: dropout, p: 0.5}
        - {kind: global_avgpool}
        - {kind: linear, features: "${n_sinks}"}
    sinks: [e1, deep]
  - {name: e1, kind: classifier, input: desc, classes: 3}
  - {name: deep, kind: linear, input: sum, features: 8}
  - {name: flat, kind: flatten, input: deep}
  - {name: fc, kind: linear, input: flat, features: 10}
  - {name: bn, kind: batchnorm, input: fc}
  - {name: act, kind: relu, input: bn}
  - {name: e2, kind: classifier, input: act, classes: 3}
"""
PLANS = {"default": {}, "modules": {"kernels": False, "fold_bn": False}}


def _model(dynamic: bool):
    graph = compile_spec(loads_spec(SPEC, file="seq.yaml"), k_cpt_input=dynamic)
    return randomize(build_model(graph).double(), seed=4)


def test_the_compiled_sequence_shapes_and_ops():
    graph = compile_spec(loads_spec(SPEC))
    shapes = {n.name: n.out_shape.dims for n in graph.nodes}
    assert shapes["tok"] == (6, 12) and shapes["cat"] == (6, 16) and shapes["desc"] == (16,)
    assert shapes["flat"] == (48,)
    ops = {n.name: n.ops for n in graph.nodes}
    assert ops["tok"] == 6 * 8 * 12 and ops["side"] == 6 * 8 * 4 and ops["res"] == 6 * 16 * 16
    assert ops["ln"] == ops["g"] == ops["d"] == ops["desc"] == 0
    (junction,) = graph.junctions
    assert [layer.out_shape.dims for layer in junction.router][-2:] == [(4,), (2,)]


@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed", "dynamic"])
@pytest.mark.parametrize("plan", sorted(PLANS))
def test_path_only_matches_dense_argmax_and_counts_its_macs(plan, dynamic):
    model = _model(dynamic)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(24, 6, 8, generator=gen, dtype=torch.float64)
    k = torch.rand(24, generator=gen, dtype=torch.float64) * 1e-8 if dynamic else None
    macs, out = counted_macs(lambda: route(model, x, k, **PLANS[plan]))
    ref = dense_route(model, x, k)
    assert len(set(ref.exit.tolist())) == 2, "the test needs examples on both paths"
    assert_same_routing(out, ref)
    assert macs == out.total_ops


def test_forced_paths_cost_their_compiled_ops():
    model = _model(False)
    x = torch.randn(10, 6, 8, dtype=torch.float64)
    exits, force = mixed_force(model.graph, 10)
    macs, out = counted_macs(lambda: route(model, x, force=force))
    assert torch.equal(out.exit, exits)
    assert macs == sum(model.graph.paths[e].ops for e in exits.tolist())


def test_batchnorm_folds_only_into_the_linear_layer_on_vectors():
    """fc -> bn -> act fuse into one kernel; the per-token linear tok fuses its relu only."""
    model = _model(False)
    plan = build_plan(model)
    outputs = [out for region in plan.regions for _, _, out, _ in region.steps]
    assert "act" in outputs and "bn" not in outputs and "fc" not in outputs  # fc + bn + relu: one step
    assert "r" in outputs and "tok" not in outputs  # tok + relu: one step, on [B, T, D]


def test_dropout_is_the_identity_at_inference():
    model = _model(False)
    x = torch.randn(8, 6, 8, dtype=torch.float64)
    model.train()
    first = route(model, x)  # route() evaluates in eval mode, whatever the model's mode
    assert model.training, "and gives the mode back"
    torch.testing.assert_close(route(model, x).logits, first.logits, rtol=0, atol=0)
    with torch.no_grad():
        dense = model(x).logits  # training mode: dropout drops
    assert not all(torch.equal(dense[c], model.eval()(x).logits[c]) for c in dense)


@settings(max_examples=25, deadline=None)
@given(spec=any_kind_specs(sequence=True), seed=st.integers(0, 2**16), plan=st.sampled_from(sorted(PLANS)),
       dynamic=st.booleans())
def test_random_sequence_graphs_match_dense_argmax_and_count_their_macs(spec, seed, plan, dynamic):
    graph = compile_spec(spec, k_cpt_input=dynamic)
    model = randomize(build_model(graph).double(), seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(7, *graph.input_shape.dims, generator=gen, dtype=torch.float64)
    k = torch.rand(7, generator=gen, dtype=torch.float64) * 1e-8 if dynamic else None
    macs, out = counted_macs(lambda: route(model, x, k, **PLANS[plan]))
    assert_same_routing(out, dense_route(model, x, k))
    assert macs == out.total_ops
