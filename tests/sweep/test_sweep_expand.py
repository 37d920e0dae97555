"""Expansion: runs per experiment and tier, the k_cpt set, capacity variants, stable ids, single-sourced budgets."""
from pathlib import Path

import pytest
import yaml

from routegraph.errors import ConfigError
from routegraph.sweep import expand, load_experiment
from routegraph.sweep.schema import TIER_K_CPT
from routegraph.train.config import K_CPT_SET, TrainConfig

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "experiments"


@pytest.fixture(scope="module")
def experiments():
    return {name: load_experiment(EXP / f"{name}.yaml") for name in ("hybrid", "cifar2", "cifar5", "cifar10", "capacity")}


# (experiment, tier) -> number of runs; None: the full sweep
COUNTS = {
    ("hybrid", None): 8 + 13 * 8 + 2,  # static n=1..8, 13 routed curves over the 8 k_cpt, 2 dynamic nets
    ("hybrid", 1): 8 + 4 + 2,
    ("hybrid", 2): 8 + 4 + 2 + 8 * 4,
    ("hybrid", 3): 46 + 4 * 4,  # the four sampled critics
    ("cifar2", None): 16, ("cifar2", 2): 0, ("cifar2", 3): 12,
    ("cifar10", None): 16, ("cifar10", 3): 12,
    ("cifar5", None): 16, ("cifar5", 3): 0, ("cifar5", 4): 12,
    ("capacity", None): 32, ("capacity", 3): 0, ("capacity", 4): 24,
}


@pytest.mark.parametrize("name,tier", list(COUNTS))
def test_run_counts(experiments, name, tier):
    assert len(expand(experiments[name], "small", tier=tier).runs) == COUNTS[(name, tier)]


def test_tier_groups(experiments):
    hybrid = experiments["hybrid"]
    assert expand(hybrid, "small", tier=1).groups() == ["static", "actor", "actor_dynamic", "actor_dynamic_scale1e9"]
    sampled = {name for name in hybrid.group_names() if name.startswith("pragmatic_critic_sampled")}
    assert set(expand(hybrid, "small", tier=2).groups()) == set(hybrid.group_names()) - sampled
    assert set(expand(hybrid, "small", tier=3).groups()) == set(hybrid.group_names()) and len(sampled) == 4


def test_routed_groups_sweep_the_paper_set(experiments):
    plan = expand(experiments["hybrid"], "small")
    for group in plan.groups():
        runs = [r for r in plan.runs if r.group == group]
        if group == "static":
            assert [r.static_exit for r in runs] == [str(n) for n in range(1, 9)]
            assert {r.k_cpt for r in runs} == {None} and {r.train["k_cpt"] for r in runs} == {0.0}
        elif group.startswith("actor_dynamic"):
            (run,) = runs
            assert run.k_cpt is None and run.train["dynamic_k_cpt"] and tuple(run.train["k_cpt_set"]) == K_CPT_SET
            assert run.config().k_cpt_input_scale == (1e9 if group.endswith("scale1e9") else 1e7)
        else:
            assert tuple(r.k_cpt for r in runs) == K_CPT_SET, group


def test_tiers_and_k_cpt_selection(experiments):
    hybrid = experiments["hybrid"]
    assert [r.k_cpt for r in expand(hybrid, "small", tier=1).runs if r.group == "actor"] == list(TIER_K_CPT)
    plan = expand(hybrid, "small", only=["static", "actor*"], k_cpt="4e-9,6.4e-8")
    assert plan.groups() == ["static", "actor", "actor_dynamic", "actor_dynamic_scale1e9", "actor_kdec0", "actor_no_talr",
                             "actor_regularized_policy", "actor_branching"]
    assert sum(r.group == "static" for r in plan.runs) == 8  # static and dynamic are not filtered by k_cpt
    assert {r.k_cpt for r in plan.runs if r.group.startswith("actor") and r.k_cpt is not None} == {4e-9, 6.4e-8}
    with pytest.raises(ConfigError, match=r"--only 'actr': no group .* did you mean 'actor'\?"):
        expand(hybrid, "small", only=["actr"])
    with pytest.raises(ConfigError, match="is not a number"):
        expand(hybrid, "small", k_cpt="4e-9,x")


def test_exits_selection(experiments):
    hybrid = experiments["hybrid"]
    full = {r.static_exit: r.id for r in expand(hybrid, "medium", tier=1).runs if r.group == "static"}
    plan = expand(hybrid, "medium", tier=1, exits="5, 8")
    statics = [r for r in plan.runs if r.group == "static"]
    assert [r.static_exit for r in statics] == ["5", "8"]
    assert [r.id for r in statics] == [full["5"], full["8"]]  # the same runs as in the full sweep
    assert sum(r.group != "static" for r in plan.runs) == 6  # routed runs are not filtered by exit
    assert plan.selection["exits"] == ["5", "8"]
    with pytest.raises(ConfigError, match=r"--exits: no static baseline ends at '9' \(static_exits: 1, 2, .*, 8\)"):
        expand(hybrid, "small", exits="9")
    with pytest.raises(ConfigError, match="no static group"):
        expand(hybrid, "small", only=["actor"], exits="5")


def test_capacity_variants(experiments):
    plan = expand(experiments["capacity"], "small")
    for group, width, divisor in (("actor_w2", 2, 4), ("actor_w3", 3, 9)):
        runs = [r for r in plan.runs if r.group == group]
        assert {r.overrides["width"] for r in runs} == {width}
        assert [r.k_cpt for r in runs] == [k / divisor for k in K_CPT_SET]
        assert [r.base_k_cpt for r in runs] == list(K_CPT_SET)
    statics = [r for r in plan.runs if r.method == "static"]
    assert sorted({r.overrides["width"] for r in statics}) == [2, 3] and len(statics) == 16
    assert all(r.data == "cifar10" for r in plan.runs)


def test_task_classes_follow_the_task(experiments):
    assert {r.overrides.get("num_classes") for r in expand(experiments["cifar2"], "small").runs} == {2}
    assert {r.overrides.get("num_classes") for r in expand(experiments["cifar5"], "small").runs} == {5}
    assert {r.overrides.get("num_classes") for r in expand(experiments["hybrid"], "small").runs} == {None}


def test_ids_are_stable_unique_and_readable(experiments, tmp_path, monkeypatch):
    hybrid = experiments["hybrid"]
    ids = [r.id for r in expand(hybrid, "small").runs]
    assert len(set(ids)) == len(ids)
    monkeypatch.chdir(tmp_path)  # the working directory is not part of a run's identity
    again = [r.id for r in expand(load_experiment(EXP / "hybrid.yaml"), "small").runs]
    assert again == ids
    tier1 = [r.id for r in expand(hybrid, "small", tier=1).runs]
    assert set(tier1) < set(ids)  # a run's id does not depend on the selection
    assert set(ids).isdisjoint(r.id for r in expand(hybrid, "tiny").runs)  # another budget, other runs
    run = next(r for r in expand(hybrid, "small").runs if r.group == "actor" and r.k_cpt == 4e-9)
    assert run.id.startswith("ac-4e-09-") and len(run.id) == len("ac-4e-09-") + 6
    assert next(r for r in expand(hybrid, "small").runs if r.group == "actor_dynamic").id.startswith("ac-dyn-")
    assert "threads" not in run.train or run.train["threads"] == 0


def test_ablations_have_their_own_labels(experiments):
    plan = expand(experiments["hybrid"], "small")
    labels = {r.group: r.label for r in plan.runs}
    assert labels["actor"] == "actor" and labels["pragmatic_critic"] == "pragmatic_critic"
    assert labels["actor_dynamic"] == "actor (dynamic k_cpt)"
    assert len(set(labels.values())) == len(labels)  # every group its own curve
    run = {r.group: r for r in plan.runs}
    assert run["actor_kdec0"].train["k_dec"] == 0.0 and run["actor_no_talr"].train["talr"] is False
    assert run["actor_regularized_policy"].train["regularized_policy"] is True
    assert run["critic_zero_one"].train["error"] == "zero_one"
    assert run["actor_branching"].spec.endswith("branching_3way.yaml")


def test_budgets_are_single_sourced(experiments):
    for exp in experiments.values():  # one budgets file for every shipped experiment
        assert exp.budgets_file == EXP / "budgets.yaml"
        assert yaml.safe_load((EXP / f"{exp.name}.yaml").read_text())["budgets"] == "budgets.yaml"
    paper, small = experiments["hybrid"].budgets["paper"], experiments["hybrid"].budgets["small"]
    for exp in experiments.values():
        for budget in ("tiny", "small", "medium", "paper"):
            settings = exp.budgets[budget].train_settings()
            for run in expand(exp, budget, tier=4).runs:  # the budget alone sets iterations and schedule
                assert {k: run.train[k] for k in settings} == settings
    assert TrainConfig(method="actor", **paper.train_settings()).resolved() == \
        {"lr": 0.1, "lr_half_life": 10_000, "tau": 1.0, "tau_half_life": 20_000}
    assert TrainConfig(method="pragmatic_critic", **paper.train_settings()).resolved()["tau"] == 0.1
    assert TrainConfig(method="actor", **small.train_settings()).resolved() == \
        {"lr": 0.02, "lr_half_life": 1500, "tau": 1.0, "tau_half_life": 750}
    assert "deviation from the paper" in small.describe() and "the paper's schedule exactly" in paper.describe()


def test_two_groups_defining_the_same_run_are_refused(make_experiment):
    path = make_experiment(groups=[{"name": "a", "method": "actor"}, {"name": "b", "method": "actor", "label": "B"}])
    with pytest.raises(ConfigError, match="groups 'a' .* and 'b' .* define the same run"):
        expand(load_experiment(path), "test")


@pytest.mark.parametrize("scheme", ["npz", "folder"])
def test_an_experiment_may_name_the_user_s_data(make_experiment, tmp_path, scheme):
    from folder_images import write_folder
    from npz_arrays import write_npz

    path = write_npz(tmp_path / "blobs.npz") if scheme == "npz" else write_folder(tmp_path / "photos")
    runs = expand(load_experiment(make_experiment(data=f"{scheme}:{path}", data_options={})), "test").runs
    assert runs and all(run.data == f"{scheme}:{path}" for run in runs)
    assert all(run.overrides["num_classes"] == 3 for run in runs)  # the spec's 10 follows the data's 3 classes


def test_a_sweep_carries_the_precision_into_every_run_and_its_id(make_experiment):
    plain = expand(load_experiment(make_experiment()), "test").runs
    half = expand(load_experiment(make_experiment(train={"precision": "bf16"})), "test").runs
    assert half and all(run.config().precision == "bf16" for run in half)
    assert all(run.config().precision == "fp32" for run in plain)
    assert not {run.id for run in plain} & {run.id for run in half}  # bf16 runs are other runs
