"""routegraph/k_cpt.py: the one home of k_cpt (router input scale, router column, cost column,
training schedule), the ``k_cpt_input_scale`` setting, and the trainer's k_cpt_input check."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tiny_graphs import model_that_routes, tiny_chain_spec

from routegraph.errors import CheckpointError, ConfigError
from routegraph.graph import compile_spec
from routegraph.graph.compiled import CompiledGraph
from routegraph.k_cpt import K_CPT_INPUT_SCALE, KCptSchedule, cost_column, router_input
from routegraph.train import Actor, TrainConfig, Trainer, strategy_from_config
from routegraph.runs import run_id
from routegraph.train.run import resume_differences

REPO = Path(__file__).resolve().parents[1]
SAVED_DYNAMIC = sorted(REPO.glob("docs/results/runs/*/*-dyn-*/compiled.json"))
OPTIONS = {"n_train": 64, "n_test": 16, "seed": 1}


def _first_linear_inputs(model):
    """Record what every router's first linear layer reads (the k_cpt column is its last feature)."""
    seen = {}
    for name, router in model.routers.items():
        router.layers[0].register_forward_pre_hook(lambda m, args, name=name: seen.__setitem__(name, args[0]))
    return seen


# ----------------------------------------------------------------------------- the columns
def test_router_column_is_scale_times_k_in_float32_and_the_cost_column_is_unscaled_float64():
    k = torch.tensor([0.0, 1e-9, 3.2e-8])
    column = router_input(k, 1e9, dtype=torch.float32)
    assert column.shape == (3, 1) and torch.equal(column[:, 0], (k * 1e9).float())
    assert router_input(4e-9, 1e7, dtype=torch.float64).shape == (1, 1)  # one shared value
    with pytest.raises(ValueError, match="3 values for a batch of 2"):
        router_input(k, 1e7, dtype=torch.float32, batch=2)
    cost = cost_column(k, "cpu")
    assert cost.dtype == torch.float64 and torch.equal(cost[:, 0], k.double())  # no scale in the costs
    assert cost_column(1e-9, "cpu").tolist() == [[1e-9]]


@pytest.mark.parametrize("scale", [K_CPT_INPUT_SCALE, 1e9])
def test_the_dense_routers_read_the_graphs_scale_times_each_examples_k(scale):
    graph = compile_spec(tiny_chain_spec(size=8), k_cpt_input=True, k_cpt_scale=scale)
    assert graph.k_cpt_scale == scale
    model = model_that_routes(graph).eval()
    seen = _first_linear_inputs(model)
    k = torch.tensor([0.0, 2e-9, 6.4e-8])
    model(torch.rand(3, 3, 8, 8), k)
    for name, x in seen.items():
        torch.testing.assert_close(x[:, -1], k * scale, rtol=1e-6, atol=0, msg=name)


def test_path_only_inference_agrees_with_the_dense_pass_at_another_scale():
    from routegraph.infer import dense_route, route

    graph = compile_spec(tiny_chain_spec(size=8), k_cpt_input=True, k_cpt_scale=1e9)
    model = model_that_routes(graph, seed=2).eval()
    x = torch.rand(40, 3, 8, 8)
    for k in (0.0, 1e-9, 1e-8):
        assert torch.equal(route(model, x, k).exit, dense_route(model, x, k).exit), k


# ----------------------------------------------------------------------------- the schedule
def test_the_schedule_comes_from_the_training_settings():
    assert KCptSchedule.from_config(TrainConfig(k_cpt=4e-9)) == KCptSchedule(fixed=4e-9)
    dynamic = KCptSchedule.from_config(TrainConfig(dynamic_k_cpt=True, k_cpt_set=(0.0, 1e-8)))
    assert dynamic.dynamic and dynamic.draws == (0.0, 1e-8)
    assert not KCptSchedule(fixed=1e-9).dynamic and KCptSchedule(fixed=1e-9).sample(5, None) == 1e-9
    draws = dynamic.sample(64, torch.Generator().manual_seed(0))
    assert draws.dtype == torch.float32 and set(draws.tolist()) == {0.0, float(torch.tensor(1e-8))}


@pytest.mark.parametrize("graph_dynamic, config_dynamic", [(True, False), (False, True)])
def test_the_trainer_refuses_a_network_whose_k_cpt_input_does_not_match(graph_dynamic, config_dynamic):
    """Before: a dynamic schedule on routers that do not read k_cpt dropped it silently."""
    from routegraph.data import load_task

    graph = compile_spec(tiny_chain_spec(size=8), k_cpt_input=graph_dynamic)
    config = TrainConfig(dynamic_k_cpt=config_dynamic, iterations=1, batch_size=8, device="cpu")
    with pytest.raises(ConfigError, match="read k_cpt|reads k_cpt"):
        Trainer(model_that_routes(graph), strategy_from_config(config), load_task("synthetic", **OPTIONS), config=config)


def test_the_trainer_refuses_another_scale_than_the_network_was_compiled_with():
    from routegraph.data import load_task

    graph = compile_spec(tiny_chain_spec(size=8), k_cpt_input=True)
    config = TrainConfig(dynamic_k_cpt=True, k_cpt_input_scale=1e9, iterations=1, batch_size=8, device="cpu")
    with pytest.raises(ConfigError, match="k_cpt_scale=1e\\+07.*k_cpt_input_scale=1e\\+09"):
        Trainer(model_that_routes(graph), strategy_from_config(config), load_task("synthetic", **OPTIONS), config=config)


def test_a_strategy_refuses_k_cpt_settings():
    """k_cpt is the trainer's: a strategy takes no k_cpt setting, and none may declare one."""
    from routegraph.methods import Method, register_method

    with pytest.raises(TypeError, match="k_cpt"):
        Actor(k_cpt=1e-8)
    with pytest.raises(ConfigError, match="dynamic_k_cpt, k_cpt_set cannot be its own setting"):
        register_method(Method("kc", "kc", "K nets", "h", Actor, settings=("dynamic_k_cpt", "k_cpt_set")))


# ----------------------------------------------------------------------------- the setting
@pytest.mark.parametrize("bad", [0.0, -1e7, float("nan"), float("inf"), True])
def test_the_scale_must_be_a_positive_finite_number(bad):
    with pytest.raises(ConfigError, match="k_cpt_input_scale must be"):
        TrainConfig(dynamic_k_cpt=True, k_cpt_input_scale=bad)


def test_another_scale_without_dynamic_k_cpt_is_refused_not_ignored():
    with pytest.raises(ConfigError, match="applies to dynamic_k_cpt runs only"):
        TrainConfig(k_cpt=1e-8, k_cpt_input_scale=1e9)


def test_the_cli_flag_is_derived_with_the_bound():
    import argparse

    from routegraph.cli.options import add_train_config_flags, train_config_from_args

    parser = argparse.ArgumentParser(exit_on_error=False)
    add_train_config_flags(parser)
    args = parser.parse_args(["--dynamic-k-cpt", "--k-cpt-input-scale", "1e9"])
    assert train_config_from_args(args).k_cpt_input_scale == 1e9
    assert "routers read this times k_cpt" in parser.format_help()
    with pytest.raises(argparse.ArgumentError, match="must be > 0"):
        parser.parse_args(["--k-cpt-input-scale", "0"])


def test_the_default_scale_keeps_run_ids_and_compiled_files_another_changes_them():
    dynamic = TrainConfig(dynamic_k_cpt=True)
    saved = {k: v for k, v in dynamic.to_json().items() if k != "k_cpt_input_scale"}  # a config.json before it
    assert run_id(TrainConfig.from_json(saved), "spec", {}) == run_id(dynamic, "spec", {})
    assert run_id(dynamic.with_(k_cpt_input_scale=1e9), "spec", {}) != run_id(dynamic, "spec", {})
    graph = compile_spec(tiny_chain_spec(), k_cpt_input=True)
    assert "k_cpt_scale" not in graph.to_json()
    scaled = compile_spec(tiny_chain_spec(), k_cpt_input=True, k_cpt_scale=1e9)
    assert scaled.to_json()["k_cpt_scale"] == 1e9 and scaled.fingerprint() != graph.fingerprint()
    assert CompiledGraph.from_json(json.loads(scaled.dumps())).k_cpt_scale == 1e9


@pytest.mark.skipif(not SAVED_DYNAMIC, reason="no saved dynamic-k_cpt run")
@pytest.mark.parametrize("path", SAVED_DYNAMIC, ids=lambda p: p.parent.name)
def test_a_saved_dynamic_runs_compiled_graph_reads_the_default_scale_unchanged(path):
    saved = json.loads(path.read_text())
    graph = CompiledGraph.from_json(saved)
    assert graph.k_cpt_input and graph.k_cpt_scale == K_CPT_INPUT_SCALE
    assert graph.to_json() == saved  # written back byte for byte: same file, same fingerprint


def test_resume_compares_the_scale():
    before = {"config": {k: v for k, v in TrainConfig(dynamic_k_cpt=True).to_json().items()
                         if k != "k_cpt_input_scale"}}  # a checkpoint from before the setting
    assert resume_differences(before, None, TrainConfig(dynamic_k_cpt=True), {}) == []
    found = resume_differences(before, None, TrainConfig(dynamic_k_cpt=True, k_cpt_input_scale=1e9), {})
    assert found == ["k_cpt_input_scale (10000000.0 in the checkpoint, now 1000000000.0)"]


def test_a_run_records_the_scale_and_its_network_reads_it(tmp_path):
    from routegraph.train.rundir import load_run
    from routegraph.train.run import train_run

    config = TrainConfig(dynamic_k_cpt=True, k_cpt_set=(0.0, 1e-8), k_cpt_input_scale=1e9, iterations=2,
                         batch_size=8, device="cpu", val_fraction=0.0)
    result = train_run("specs/tiny_chain.yaml", tmp_path / "run", config, data_options=OPTIONS, progress=False)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["train"]["k_cpt_input_scale"] == 1e9
    assert json.loads((tmp_path / "run" / "compiled.json").read_text())["k_cpt_scale"] == 1e9
    assert load_run(tmp_path / "run").graph.k_cpt_scale == 1e9
    assert result.config["run_id"] != run_id(config.with_(k_cpt_input_scale=K_CPT_INPUT_SCALE),
                                              Path("specs/tiny_chain.yaml").read_text(),
                                              {"data": "synthetic", "data_options": OPTIONS, "overrides": {}})
    with pytest.raises(CheckpointError, match="k_cpt_input_scale"):
        train_run("specs/tiny_chain.yaml", tmp_path / "run", config.with_(k_cpt_input_scale=1e8),
                  data_options=OPTIONS, progress=False, resume=True)
