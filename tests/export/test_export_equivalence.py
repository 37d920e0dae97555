"""An exported folder, run by routegraph.deploy (numpy + ONNX Runtime), agrees with ``route()``."""
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_helpers import assert_matches_route
from infer_helpers import k_sensitive, randomize, tiny_chain_graph
from routegraph import deploy
from routegraph.export import FORMATS, export_model
from routegraph.graph import compile_spec
from routegraph.nn import build_model
from routegraph.spec.loader import load_spec
from strategies_graphs import routed_specs

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO / "specs").glob("*.yaml"))


def _random_force(graph, n, seed):
    gen = torch.Generator().manual_seed(seed)
    return {j.name: torch.randint(len(j.sinks), (n,), generator=gen) for j in graph.junctions}


@pytest.mark.parametrize("format", sorted(FORMATS))
@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_every_spec_exports_and_matches_route(spec, format, tmp_path):
    graph = compile_spec(load_spec(spec))
    model = randomize(build_model(graph), seed=3)
    net = deploy.load(export_model(model, tmp_path / "net", format=format))
    x = torch.rand(48, *graph.input_shape.dims, generator=torch.Generator().manual_seed(1))
    assert_matches_route(model, net, x)
    # forced decisions reach every path, so every region graph runs and its output is checked
    out, _ = assert_matches_route(model, net, x, force=_random_force(graph, len(x), 2))
    if graph.junctions:
        assert len(set(out.exit.tolist())) > 1


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=routed_specs(), seed=st.integers(0, 2**16), dynamic=st.booleans(), format=st.sampled_from(sorted(FORMATS)))
def test_random_routed_graphs_match_route(spec, seed, dynamic, format, tmp_path_factory):
    graph = compile_spec(spec, k_cpt_input=dynamic)
    model = randomize(build_model(graph), seed)
    net = deploy.load(export_model(model, tmp_path_factory.mktemp("net"), format=format))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(17, *graph.input_shape.dims, generator=gen)
    k = torch.rand(17, generator=gen) * 6.4e-8 if dynamic else None
    assert_matches_route(model, net, x, k)
    assert_matches_route(model, net, x, k, force=_random_force(graph, len(x), seed))


def test_dynamic_k_cpt_routes_as_route_does(tmp_path):
    graph = tiny_chain_graph(k_cpt_input=True)
    model = k_sensitive(build_model(graph), seed=1)
    net = deploy.load(export_model(model, tmp_path / "net"))
    assert net.k_cpt_input
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    means = []
    for k in (0.0, 4e-9, 3.2e-8, torch.linspace(0, 6.4e-8, 64)):
        out, _ = assert_matches_route(model, net, x, k)
        means.append(out.mean_ops)
    assert means[0] > means[2], "the routers must follow k_cpt for this test to check anything"


def test_k_column_has_the_bits_routers_read():
    from routegraph.deploy.runtime import k_column
    from routegraph.k_cpt import router_input

    ks = np.concatenate([[0.0, 1e-9, 4e-9, 6.4e-8], np.random.default_rng(0).random(200) * 1e-7])
    for scale in (1e7, 1e9, 3.3e6):
        torch_bits = torch.cat([router_input(float(k), scale, dtype=torch.float32) for k in ks]).numpy()
        assert np.array_equal(k_column(ks, scale, len(ks)), torch_bits)
        assert np.array_equal(k_column(ks, scale, len(ks)), router_input(torch.tensor(ks, dtype=torch.float32), scale,
                                                                        dtype=torch.float32).numpy())


def test_chunks_empty_batch_and_single_example(tmp_path):
    graph = tiny_chain_graph()
    model = randomize(build_model(graph), seed=11)
    net = deploy.load(export_model(model, tmp_path / "net"))
    x = torch.rand(13, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    whole = net.predict(x.numpy())
    chunked = net.predict(x.numpy(), batch_size=4)
    singles = [net.predict(x[i].numpy()) for i in range(len(x))]  # without the batch axis
    for other in (chunked,):
        assert np.array_equal(other.exit, whole.exit) and np.array_equal(other.predictions, whole.predictions)
    assert np.array_equal(np.concatenate([s.exit for s in singles]), whole.exit)
    empty = net.predict(x[:0].numpy())
    assert empty.exit.shape == empty.ops.shape == (0,) and empty.logits.shape == (0, 10)
