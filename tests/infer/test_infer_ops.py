"""Exact op accounting: per-example ops are the compiled path's ops, and the total
equals the multiply-accumulates torch's FlopCounterMode sees (FLOPs / 2)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from infer_helpers import mixed_force, randomize, tiny_chain_graph
from routegraph.graph import compile_spec
from routegraph.infer import route
from routegraph.nn import build_model
from strategies_graphs import routed_specs

SETTINGS = settings(max_examples=30, deadline=None)


def counted_macs(fn):
    with FlopCounterMode(display=False) as counter:
        out = fn()
    return counter.get_total_flops() / 2, out


@SETTINGS
@given(spec=routed_specs(), batch=st.sampled_from([1, 3, 8]), seed=st.integers(0, 2**16),
       kernels=st.booleans(), dynamic=st.booleans())
def test_random_graphs_ops_and_flop_counter(spec, batch, seed, kernels, dynamic):
    graph = compile_spec(spec, k_cpt_input=dynamic)
    model = randomize(build_model(graph), seed)
    x = torch.randn(batch, *graph.input_shape.dims, generator=torch.Generator().manual_seed(seed))
    macs, out = counted_macs(lambda: route(model, x, 1e-8 if dynamic else None, kernels=kernels))
    path_ops = torch.tensor([p.ops for p in graph.paths])
    assert out.ops.dtype == torch.int64
    assert torch.equal(out.ops, path_ops[out.exit])
    assert macs == out.total_ops


@pytest.mark.parametrize("options", [{}, {"channels_last": True}, {"fuse_multiscale": "add"},
                                     {"kernels": False, "fold_bn": False, "fuse_multiscale": None}])
def test_multiscale_chain_flop_counter(options):
    graph = tiny_chain_graph(k_cpt_input=True)
    model = randomize(build_model(graph), seed=2)
    x = torch.rand(33, 3, 32, 32)
    k = torch.linspace(0, 6.4e-8, 33)
    exits, force = mixed_force(graph, 33)
    macs, out = counted_macs(lambda: route(model, x, k, force=force, **options))
    assert torch.equal(out.exit, exits)
    assert macs == out.total_ops == sum(graph.paths[e].ops for e in out.exit.tolist())


def test_forced_decisions_and_empty_branches_cost_nothing():
    """Branches nobody takes do not run: the counted MACs are exactly the chosen paths'."""
    graph = tiny_chain_graph()
    model = randomize(build_model(graph), seed=4)
    x = torch.rand(10, 3, 32, 32)
    names = [j.name for j in graph.junctions]
    for exit_index, path in enumerate(graph.paths):
        force = {j: torch.zeros(10, dtype=torch.long) for j in names}
        for junction, sink in path.decisions:
            force[junction].fill_(sink)
        macs, out = counted_macs(lambda: route(model, x, force=force))
        assert out.exit.tolist() == [exit_index] * 10
        assert macs == 10 * path.ops
    # a mix, including a junction where one sink is empty
    exits = torch.tensor([0, 0, 2, 2, 2, 0, 2, 2, 0, 2])
    force = {j: torch.zeros(10, dtype=torch.long) for j in names}
    for i, e in enumerate(exits.tolist()):
        for junction, sink in graph.paths[e].decisions:
            force[junction][i] = sink
    macs, out = counted_macs(lambda: route(model, x, force=force))
    assert torch.equal(out.exit, exits)
    assert macs == sum(graph.paths[e].ops for e in exits.tolist())


def test_chain_8layer_ops_match_paths():
    from infer_helpers import REPO
    from routegraph.spec.loader import load_spec

    graph = compile_spec(load_spec(REPO / "specs" / "chain_8layer.yaml"))
    model = randomize(build_model(graph), seed=6, router_scale=1.0)
    x = torch.rand(12, 3, 32, 32)
    macs, out = counted_macs(lambda: route(model, x))
    assert macs == out.total_ops
    assert out.ops.tolist() == [graph.paths[e].ops for e in out.exit.tolist()]
