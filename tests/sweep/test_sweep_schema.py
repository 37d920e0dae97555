"""Experiment and budgets files: the shipped ones load; mistakes are located errors (file:line:col: key)."""
from pathlib import Path

import pytest

from routegraph.errors import ConfigError
from routegraph.sweep import ExperimentError, expand, load_budgets_file, load_experiment

ROOT = Path(__file__).resolve().parents[2]
TINY_SPEC = ROOT / "specs" / "tiny_chain.yaml"

EXPERIMENTS = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if p.name != "budgets.yaml")


def test_shipped_experiments_load():
    names = {load_experiment(p).name for p in EXPERIMENTS}
    assert names == {"hybrid", "cifar2", "cifar5", "cifar10", "capacity"}


def test_a_budgets_file_is_not_an_experiment():
    with pytest.raises(ExperimentError, match="budgets file, not an experiment"):
        load_experiment(ROOT / "experiments" / "budgets.yaml")


def _error(make_experiment, text=None, **changes) -> ExperimentError:
    path = make_experiment(text, **changes)
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    assert isinstance(info.value, ConfigError)
    return info.value


def test_unknown_key_is_located_with_a_suggestion(make_experiment):
    text = f"""kind: experiment
name: tiny
spec: {TINY_SPEC}
data: synthetic
budgets: {{test: {{iterations: 4, schedule: small, deviation: x}}}}
groups:
  - name: actor
    metod: actor
"""
    err = _error(make_experiment, text)
    messages = [str(p) for p in err.problems]
    assert any(m.endswith(".yaml:8:5: groups.0.metod: unknown key 'metod'; did you mean 'method'? "
                          "(allowed: name, method, label, description, tier, spec, set, data, data_options, k_cpt, "
                          "k_cpt_divisor, dynamic_k_cpt, static_exits, train, resources)") for m in messages), messages
    assert any("groups.0.method: missing required key 'method'" in m for m in messages), messages


def test_budget_settings_are_refused_in_groups_and_experiment(make_experiment):
    err = _error(make_experiment, train={"iterations": 10},
                 groups=[{"name": "a", "method": "actor", "train": {"lr": 0.1, "k_dek": 0.0, "threads": 2,
                                                                     "k_cpt": 1e-9}}])
    text = str(err)
    assert "train.iterations: 'iterations' is set by the budget" in text
    assert "groups.0.train.lr: 'lr' is set by the budget" in text
    assert "groups.0.train.k_dek: unknown training setting 'k_dek'; did you mean 'k_dec'?" in text
    assert "groups.0.train.threads: 'threads' is set by the executor" in text
    assert "groups.0.train.k_cpt: 'k_cpt' is set by the group's 'k_cpt' list" in text


def test_group_structure_checks(make_experiment):
    err = _error(make_experiment, groups=[
        {"name": "s", "method": "static"},
        {"name": "d", "method": "actor", "dynamic_k_cpt": True, "k_cpt": [1e-9]},
        {"name": "d", "method": "optimistic_critic", "static_exits": [1]},
    ])
    text = str(err)
    assert "groups.0: a static group needs 'static_exits'" in text
    assert "groups.1.k_cpt: a dynamic-k_cpt group is one run" in text
    assert "groups.2.name: duplicate group name 'd'" in text
    assert "groups.2.static_exits: 'static_exits' is for method static" in text
    text = str(_error(make_experiment, groups=[{"name": "x", "method": "critic"}]))
    assert "groups.0.method: must be 'static', 'actor', 'pragmatic_critic' or 'optimistic_critic' " \
           "(got 'critic')" in text


def test_bad_values_of_training_settings_are_reported(make_experiment):
    err = _error(make_experiment, groups=[{"name": "a", "method": "actor", "train": {"error": "hinge"}}])
    assert "groups.0.train: bad training setting: error must be cross_entropy or zero_one" in str(err)


def test_missing_spec_and_unknown_task(make_experiment):
    err = _error(make_experiment, spec="nowhere.yaml", data="hybird")
    text = str(err)
    assert "spec: spec file" in text and "nowhere.yaml' not found" in text
    assert "data: unknown data task 'hybird'; did you mean 'hybrid'?" in text


def test_budgets_need_a_deviation_and_paper_means_the_paper(make_experiment):
    err = _error(make_experiment, budgets={"quick": {"iterations": 100, "schedule": "small"},
                                           "paper": {"iterations": 80000, "schedule": "small", "deviation": "x"}})
    text = str(err)
    assert "budgets.quick: budget 'quick' departs from the paper" in text
    assert "budgets.paper: the budget named 'paper' must be the paper's" in text


def test_budget_typos_are_located(make_experiment):
    err = _error(make_experiment, budgets={"quick": {"iterations": 0, "schedul": "small", "deviation": "x"}})
    text = str(err)
    assert "budgets.quick.iterations: must be > 0 (got 0)" in text
    assert "budgets.quick.schedul: unknown key 'schedul'; did you mean 'schedule'?" in text


def test_invalid_yaml_is_located(make_experiment):
    err = _error(make_experiment, "kind: experiment\nname: [unclosed\n")
    assert ".yaml:3:1: <root>: invalid YAML" in str(err) or "invalid YAML" in str(err)


def test_unknown_budget_lists_the_known_ones(make_experiment):
    exp = load_experiment(make_experiment())
    with pytest.raises(ConfigError, match=r"unknown budget 'tset'; did you mean 'test'\? \(known in .*: test, test6\)"):
        expand(exp, "tset")


def test_an_experiment_is_not_a_budgets_file():
    with pytest.raises(ExperimentError, match=r"hybrid.yaml:\d+:\d+: kind: this is not a budgets file \(kind 'experiment'\)"):
        load_budgets_file(ROOT / "experiments" / "hybrid.yaml")


def test_shipped_budgets_file():
    budgets = load_budgets_file(ROOT / "experiments" / "budgets.yaml")
    assert list(budgets) == ["tiny", "small", "medium", "paper"]
    assert [b.iterations for b in budgets.values()] == [300, 3000, 10000, 80000]
    assert budgets["paper"].is_paper and not budgets["small"].is_paper
    assert all(b.deviation.strip() for name, b in budgets.items() if name != "paper")


def test_budgets_and_settings_refuse_booleans_as_numbers(make_experiment):
    """`iterations: true` once trained one iteration; booleans are not numbers (issue 16)."""
    err = _error(make_experiment, budgets={"quick": {"iterations": True, "schedule": "small", "deviation": "x",
                                                     "batch_size": 12.5}})
    text = str(err)
    assert "budgets.quick.iterations: must be an integer (got true)" in text
    assert "budgets.quick.batch_size: must be a whole number (got 12.5)" in text
    err = _error(make_experiment, groups=[{"name": "a", "method": "actor", "train": {"k_dec": True}}])
    assert "groups.0.train: bad training setting: k_dec must be a finite number >= 0 (got true)" in str(err)


def test_the_settings_a_sweep_controls_are_training_settings():
    from routegraph.sweep.schema import BUDGET_KEYS, EXECUTOR_KEYS, STRUCTURE_KEYS
    from routegraph.train.config import TrainConfig

    controlled = [*BUDGET_KEYS, *STRUCTURE_KEYS, *EXECUTOR_KEYS]
    assert len(set(controlled)) == len(controlled) and set(controlled) <= set(TrainConfig.model_fields)


def test_a_dynamic_group_may_set_the_router_input_scale_and_a_fixed_one_may_not(make_experiment):
    from routegraph.errors import ExperimentError
    from routegraph.sweep import expand, load_experiment

    groups = [{"name": "dyn", "method": "actor", "dynamic_k_cpt": True, "train": {"k_cpt_input_scale": 1e9}}]
    (run,) = expand(load_experiment(make_experiment(groups=groups)), "test").runs
    assert run.config().dynamic_k_cpt and run.config().k_cpt_input_scale == 1e9
    fixed = [{"name": "fixed", "method": "actor", "k_cpt": [1e-8], "train": {"k_cpt_input_scale": 1e9}}]
    with pytest.raises(ExperimentError, match="groups.0.train: bad training setting: k_cpt_input_scale"):
        load_experiment(make_experiment(groups=fixed))
