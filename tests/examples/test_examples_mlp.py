"""The tabular MLP example (examples/mlp_tabular): its data script makes what its doc says, and the
commands of its README (every strategy) and of docs/examples.md run as written on the generated
.npz (fewer iterations and rows); the trained run routes path-only as the dense network does, each
path costing what FlopCounterMode counts."""
from __future__ import annotations

import json
import runpy

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import routegraph
from example_helpers import EXAMPLES, ROOT, link_examples, run_commands, section, sh_blocks, spread_decisions
from infer_helpers import assert_same_routing, mixed_force
from routegraph.infer import dense_route
from routegraph.methods import method_names

HERE = EXAMPLES / "mlp_tabular"
FASTER = {"--iterations": "20"}


@pytest.fixture(scope="module")
def make_data():
    return runpy.run_path(str(HERE / "make_data.py"))


def test_the_data_are_easy_on_feature_0_and_an_xor_for_the_rest(make_data):
    x, y = make_data["rows"](400, np.random.default_rng(7))
    again, _ = make_data["rows"](400, np.random.default_rng(7))
    assert np.array_equal(x, again) and x.shape == (400, 10) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [100] * 4
    low, high, hard = y == 0, y == 1, y >= 2
    # the easy pair: feature 0 alone (6 noise deviations apart: holds for any seed in practice)
    assert x[low, 0].max() < 0 < x[high, 0].min()
    # the hard pair: the sign of x1 * x2 decides, exactly; no single feature's sign does
    assert (np.sign(x[y == 2, 1] * x[y == 2, 2]) == 1).all() and (np.sign(x[y == 3, 1] * x[y == 3, 2]) == -1).all()
    for feature in range(10):
        agree = ((x[hard, feature] > 0) == (y[hard] == 2)).mean()
        assert 0.3 < agree < 0.7, feature


def _readme_commands() -> list[str]:
    return sh_blocks((HERE / "README.md").read_text(encoding="utf-8"))


def test_the_readme_trains_every_strategy():
    trained = {line.split("--strategy ")[1].split()[0] for line in _readme_commands() if " --strategy " in line}
    assert trained == set(method_names())


def test_the_readme_commands_run_then_route_path_only(tmp_path, monkeypatch):
    link_examples(tmp_path)
    monkeypatch.chdir(tmp_path)
    ran = run_commands(_readme_commands(), FASTER)
    assert ran == _readme_commands()
    n_test = len(np.load(tmp_path / "tabular.npz")["y_test"])
    for method in ("sr-3", "ac", "pc", "oc"):
        evaluations = json.loads((tmp_path / "runs" / f"mlp-{method}" / "eval.json").read_text())["evaluations"]
        assert [e["n"] for e in evaluations] == [n_test], method
    flow = (tmp_path / "mlp-flow.svg").read_text()
    assert all(name in flow for name in ("low", "high", "even", "odd"))
    assert (tmp_path / "mlp-curves.png").stat().st_size

    run = routegraph.load_run(tmp_path / "runs" / "mlp-ac")
    graph = run.graph
    x = torch.from_numpy(np.load(tmp_path / "tabular.npz")["x_test"])
    spread_decisions(run.model, x)
    out, ref = routegraph.route(run.model, x), dense_route(run.model, x)
    assert_same_routing(out, ref, logits_tol=1e-5)
    assert len(set(out.exit.tolist())) == len(graph.paths)
    exits, force = mixed_force(graph, len(x), seed=1)  # every path, whatever 20 steps taught the routers
    with FlopCounterMode(display=False) as counter:
        out = routegraph.route(run.model, x, force=force)
    assert torch.equal(out.exit, exits)
    assert counter.get_total_flops() / 2 == out.total_ops == sum(graph.paths[e].ops for e in exits.tolist())


def test_the_docs_tour_runs(tmp_path, monkeypatch):
    link_examples(tmp_path)
    monkeypatch.chdir(tmp_path)
    lines = sh_blocks(section((ROOT / "docs" / "examples.md").read_text(encoding="utf-8"),
                              "## A routed MLP on tabular features"))
    assert run_commands(lines, FASTER) == lines and (tmp_path / "mlp-flow.svg").stat().st_size
