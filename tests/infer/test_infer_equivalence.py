"""Path-only execution agrees with dense argmax execution (eval mode)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infer_helpers import assert_same_routing, randomize, tiny_chain_graph
from routegraph.graph import compile_spec
from routegraph.infer import dense_route, route
from routegraph.nn import build_model
from strategies_graphs import routed_specs

SETTINGS = settings(max_examples=30, deadline=None)
PLANS = {
    "default": {},  # BN folded, multiscale fused, plain-callable kernels
    "modules": {"kernels": False, "fold_bn": False, "fuse_multiscale": None},
}


@SETTINGS
@given(spec=routed_specs(), batch=st.sampled_from([1, 2, 9]), seed=st.integers(0, 2**16),
       plan=st.sampled_from(sorted(PLANS)), dynamic=st.booleans())
def test_random_graphs_match_dense_argmax(spec, batch, seed, plan, dynamic):
    graph = compile_spec(spec, k_cpt_input=dynamic)
    model = randomize(build_model(graph).double(), seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *graph.input_shape.dims, generator=gen, dtype=torch.float64)
    k = torch.rand(batch, generator=gen, dtype=torch.float64) * 6.4e-8 if dynamic else None
    out = route(model, x, k, **PLANS[plan])
    ref = dense_route(model, x, k)
    assert_same_routing(out, ref)


@pytest.mark.parametrize("plan", sorted(PLANS))
@pytest.mark.parametrize("channels_last", [False, True])
def test_multiscale_chain_matches_dense(plan, channels_last):
    graph = tiny_chain_graph()
    model = randomize(build_model(graph).double(), seed=3)
    x = torch.rand(40, 3, 32, 32, dtype=torch.float64)
    out = route(model, x, channels_last=channels_last, **PLANS[plan])
    ref = dense_route(model, x)
    assert len(set(ref.exit.tolist())) > 1, "the test needs examples on several paths"
    assert_same_routing(out, ref)


def test_dynamic_k_cpt_scalar_and_per_example():
    graph = tiny_chain_graph(k_cpt_input=True)
    model = randomize(build_model(graph).double(), seed=5)
    x = torch.rand(16, 3, 32, 32, dtype=torch.float64)
    for k in (0.0, 4e-9, torch.linspace(0, 6.4e-8, 16, dtype=torch.float64)):
        assert_same_routing(route(model, x, k), dense_route(model, x, k))
    with pytest.raises(Exception, match="k_cpt"):
        route(model, x)


def test_float32_model_matches_dense_predictions():
    graph = tiny_chain_graph()
    model = randomize(build_model(graph), seed=7)
    x = torch.rand(64, 3, 32, 32)
    out, ref = route(model, x), dense_route(model, x)
    # float32 with BN folded: scores differ by rounding only; decisions agree unless nearly tied
    assert (out.exit == ref.exit).float().mean() >= 0.95
    torch.testing.assert_close(out.logits[out.exit == ref.exit], ref.logits[out.exit == ref.exit], atol=1e-4, rtol=1e-4)


def test_batch_of_one_and_chunking_and_empty_input():
    graph = tiny_chain_graph()
    model = randomize(build_model(graph).double(), seed=11)
    x = torch.rand(13, 3, 32, 32, dtype=torch.float64)
    ref = dense_route(model, x)
    singles = [route(model, x[i:i + 1]) for i in range(len(x))]
    assert torch.equal(torch.cat([o.exit for o in singles]), ref.exit)
    assert torch.equal(torch.cat([o.predictions for o in singles]), ref.predictions)
    assert_same_routing(route(model, x, batch_size=4), ref)
    empty = route(model, x[:0])
    assert empty.exit.shape == (0,) and empty.ops.shape == (0,) and empty.mean_ops == 0.0


def test_training_mode_is_restored_and_plan_tracks_weight_changes():
    graph = tiny_chain_graph()
    model = randomize(build_model(graph).double(), seed=13).train()
    x = torch.rand(8, 3, 32, 32, dtype=torch.float64)
    first = route(model, x)
    assert model.training
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    model.eval()
    assert_same_routing(route(model, x), dense_route(model, x))
    assert not torch.allclose(first.logits, route(model, x).logits)


def test_wrong_input_shape_is_a_clear_error():
    from routegraph.errors import ConfigError

    model = build_model(tiny_chain_graph()).eval()
    with pytest.raises(ConfigError, match="expects"):
        route(model, torch.rand(2, 32, 32, 3))


def test_top_level_route_on_a_float64_model():
    import routegraph

    graph = tiny_chain_graph()
    model = randomize(build_model(graph).double(), seed=17)
    x = torch.rand(6, 3, 32, 32, dtype=torch.float64)
    assert not hasattr(model, "route")  # nn/ imports nothing from infer/: no method that would
    assert_same_routing(routegraph.route(model, x), dense_route(model, x))


def test_bad_forced_decisions_are_clear_errors():
    from routegraph.errors import ConfigError

    model = build_model(tiny_chain_graph()).eval()
    x = torch.rand(3, 3, 32, 32)
    with pytest.raises(ConfigError, match="unknown junction"):
        route(model, x, force={"nope": torch.zeros(3, dtype=torch.long)})
    with pytest.raises(ConfigError, match="0..1"):
        route(model, x, force={"j1": torch.tensor([0, 2, 1])})
