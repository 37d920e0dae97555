"""The routed transformer example (specs/transformer_routed.yaml): each path's compiled ops equal
FlopCounterMode's MACs around route() forced down that path (attention's matmuls included), and
path-only inference agrees with the dense network, with every plan."""
from __future__ import annotations

import pytest
import torch

from infer_helpers import REPO, assert_same_routing, counted_macs, randomize
from routegraph.graph import compile_spec
from routegraph.infer import dense_route, route
from routegraph.nn import build_model
from routegraph.spec import load_spec


@pytest.fixture(scope="module")
def graph():
    return compile_spec(load_spec(REPO / "specs" / "transformer_routed.yaml"))


def test_three_paths_of_growing_depth(graph):
    (junction,) = graph.junctions
    assert len(junction.sinks) == 3
    ops = [p.ops for p in graph.paths]
    assert ops == sorted(ops) and len(set(ops)) == 3
    encoder = next(n.ops for n in graph.nodes if n.name == "enc.layer")
    assert ops[1] - ops[0] == ops[2] - ops[1] == encoder  # one more encoder layer per branch


@pytest.mark.parametrize("batch", [1, 4])
def test_each_forced_path_costs_its_compiled_ops(graph, batch):
    model = randomize(build_model(graph), seed=1)
    x = torch.randn(batch, *graph.input_shape.dims, generator=torch.Generator().manual_seed(batch))
    for k, path in enumerate(graph.paths):
        force = {"j": torch.full((batch,), path.decisions[0][1], dtype=torch.long)}
        macs, out = counted_macs(lambda: route(model, x, force=force))
        assert out.exit.tolist() == [k] * batch
        assert macs == batch * path.ops == out.total_ops


@pytest.mark.parametrize("options", [{}, {"kernels": False, "fold_bn": False}], ids=["kernels", "modules"])
def test_path_only_agrees_with_the_dense_network(graph, options):
    model = randomize(build_model(graph).double(), seed=2)
    x = torch.randn(32, *graph.input_shape.dims, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = dense_route(model, x)
    assert len(set(ref.exit.tolist())) == 3, "the test needs examples on every path"
    assert_same_routing(route(model, x, **options), ref, logits_tol=1e-7)
