"""Sampled (path-only) critic training: the policies, the sampled pass, its targets and TALR, each
against an independent computation (the dense step, enumeration of the paths, counting by hand)."""
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from routegraph import build_model
from routegraph.checks import POLICIES
from routegraph.errors import ConfigError
from routegraph.graph import compile_spec
from routegraph.routing import RegionTables, region_probabilities, talr_scales
from routegraph.routing.sampled_targets import sampled_targets
from routegraph.routing.sampling import junction_policy, policy_probabilities, sample_sinks
from routegraph.spec.loader import load_spec
from routegraph.train.config import TrainConfig
from routegraph.train.sampled import SampledPass
from routegraph.train.strategies import OptimisticCritic, PragmaticCritic

from ..strategies_graphs import routed_specs
from ..tiny_graphs import model_that_routes, tiny_chain, tiny_chain_spec

K = torch.tensor(1e-6, dtype=torch.float64)


def tiny_tree_model(seed=0):
    return model_that_routes(compile_spec(load_spec("specs/tiny_tree.yaml")), seed)


def critic(model, cls=PragmaticCritic, policy="softmax", epsilon=0.0, **kwargs):
    strategy = cls(policy=policy, **{"k_l2": 0.0, "talr": False, **kwargs})
    strategy.setup(model)
    strategy.epsilon = torch.tensor(epsilon)
    return strategy


def dense_scores(model, x):
    with torch.no_grad():
        return {j: s.detach() for j, s in model(x).scores.items()}


# -- policies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", POLICIES)
def test_one_junction_at_a_time_gives_the_dense_policy(policy):
    """What a sampled step computes where an example is equals the dense policy over all junctions."""
    model = tiny_tree_model()
    plan = RegionTables(model.graph)
    scores = dense_scores(model.eval(), torch.randn(6, 3, 32, 32))
    dense = policy_probabilities(plan, scores, policy, tau=0.7, epsilon=0.2, eps=1e-3)
    region_p = region_probabilities(plan, dense)
    for jx, name in enumerate(plan.junctions):
        parent_p = region_p[:, int(plan.junction_region[jx])]
        one = junction_policy(plan, jx, scores[name], parent_p, policy, tau=0.7, epsilon=0.2, eps=1e-3)
        assert torch.allclose(one, dense[name], atol=1e-6), name
        assert torch.allclose(one.sum(1), torch.ones(6))


def test_epsilon_greedy_and_argmax_floor_by_hand():
    plan = RegionTables(tiny_chain())
    scores = {"j1": torch.tensor([[0.0, 1.0]]), "j2": torch.tensor([[2.0, -1.0]])}
    greedy = policy_probabilities(plan, scores, "epsilon_greedy", epsilon=0.2)
    assert greedy["j1"][0].tolist() == pytest.approx([0.1, 0.9]) and greedy["j2"][0].tolist() == pytest.approx([0.9, 0.1])
    floor = region_probabilities(plan, policy_probabilities(plan, scores, "argmax_floor", epsilon=0.3))
    # regions: root, exit1 (1 of 3 leaves), deeper (2 of 3), exit2, exit3; the argmax path is root -> deeper -> exit2
    f = [0.3 * leaves / 3 for leaves in (3, 1, 2, 1, 1)]
    expected = [1.0, f[1], 1 - f[1], (1 - f[1] - f[2]) + f[3], f[4]]
    assert floor[0].tolist() == pytest.approx(expected)


def test_sample_sinks_draws_each_sink_with_its_probability():
    pi = torch.tensor([0.1, 0.6, 0.0, 0.3]).expand(1000, 4)
    drawn = sample_sinks(pi, (torch.arange(1000) + 0.5) / 1000)  # evenly spaced: exact frequencies
    assert torch.bincount(drawn, minlength=4).tolist() == [100, 600, 0, 300]


def test_epsilon_follows_its_schedule():
    config = TrainConfig(method="pragmatic_critic", policy="epsilon_greedy", epsilon=0.2, iterations=1000)
    assert config.epsilon_at(0) == 0.2 and config.epsilon_at(250) == pytest.approx(0.1)  # tau's half-life: 250
    assert TrainConfig(method="pragmatic_critic", policy="epsilon_greedy", epsilon_half_life=100).epsilon_at(200) \
        == pytest.approx(0.025)


@pytest.mark.parametrize("settings_, words", [
    ({"method": "actor", "sampled": True}, "sampled (--sampled) applies to critics only"),
    ({"method": "static", "policy": "epsilon_greedy"}, "policy epsilon_greedy applies to critics only"),
    ({"method": "pragmatic_critic", "epsilon": 0.3}, "epsilon and epsilon_half_life apply to"),
    ({"method": "pragmatic_critic", "critic_targets": "bootstrapped"}, "critic_targets applies to sampled critics"),
    ({"method": "pragmatic_critic", "sampled_talr": "mean"}, "sampled_talr applies to sampled critics"),
    ({"method": "pragmatic_critic", "policy": "greedy"}, "policy must be softmax, epsilon_greedy or argmax_floor"),
])
def test_settings_that_would_be_ignored_are_refused(settings_, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**settings_)


# -- the sampled pass against the dense step: expectation over every path ----------------------------
def _path_uniforms(plan, graph, pi, path, n_junctions):
    """Uniform numbers that make one example take ``path``, and the path's probability."""
    u, probability = torch.full((1, max(n_junctions, 1)), 0.5), 1.0
    for junction, sink in path.decisions:
        jx = plan.junction_index[junction]
        p = pi[junction][0]
        u[0, jx] = float(p[:sink].sum() + p[sink] / 2)
        probability *= float(p[sink])
    return u, probability


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for n, p in model.named_parameters()}


def assert_sampled_expectation_is_dense(model, x, labels, policy="softmax", epsilon=0.0):
    graph = model.graph
    strategy = critic(model, policy=policy, epsilon=epsilon, k_ure=0.0, eps=1e-2)
    tau = 0.8
    dense = _grads(model, strategy.loss(model(x), labels, K, tau).loss)
    pi = strategy.policy_of(dense_scores(model, x), tau)
    expected = {n: torch.zeros_like(g) for n, g in dense.items()}
    total = 0.0
    sampler = SampledPass(model)
    for path in graph.paths:
        u, probability = _path_uniforms(strategy.plan, graph, pi, path, len(graph.junctions))
        run = sampler(x, None, u, lambda j, s, p: strategy.junction_policy(j, s, p, tau))
        assert graph.classifiers[int(run.leaf_of[0])] == path.classifier
        for n, g in _grads(model, strategy.sampled_loss(run, labels, K).loss).items():
            expected[n] += probability * g
        total += probability
    assert total == pytest.approx(1.0, abs=1e-5)
    for n, g in dense.items():
        assert torch.allclose(expected[n], g, atol=1e-5, rtol=1e-3), n


@pytest.mark.parametrize("policy", POLICIES)
def test_sampled_gradient_in_expectation_is_the_dense_critics(policy):
    torch.manual_seed(1)
    model = tiny_tree_model().train()
    assert_sampled_expectation_is_dense(model, torch.randn(1, 3, 32, 32), torch.tensor([3]), policy, epsilon=0.3)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routed_specs(max_depth=3))
def test_sampled_gradient_in_expectation_on_random_graphs(spec):
    torch.manual_seed(0)
    graph = compile_spec(spec)
    model = model_that_routes(graph).train()
    for module in model.modules():  # one example: batch statistics of vectors are undefined, in both steps
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    x = torch.randn(1, *graph.input_shape.dims)
    assert_sampled_expectation_is_dense(model, x, torch.tensor([1]))


# -- targets against the paths, by hand -------------------------------------------------------------
def _oracle_targets(graph, plan, b, leaf, err, k, scores_of, kind, mode):
    """Per (junction, taken sink) on example b's path: -V(sink region), walked in plain Python."""
    path = graph.paths[leaf]
    ops = [graph.regions[r].ops for r in path.regions]
    value = err + k * ops[-1]
    out = {}
    for depth in reversed(range(len(path.decisions))):
        junction, sink = path.decisions[depth]
        out[junction] = -value
        s = scores_of[(junction, b)]
        if mode == "bootstrapped" and kind == "pragmatic" and max(range(len(s)), key=s.__getitem__) != sink:
            value = -max(s)  # the argmax sink's estimate: -s_argmax
        elif mode == "bootstrapped" and kind == "optimistic":
            value = min([value] + [-v for i, v in enumerate(s) if i != sink])
        value = k * ops[depth] + value
    return out


@pytest.mark.parametrize("kind", ["pragmatic", "optimistic"])
@pytest.mark.parametrize("mode", ["realised", "bootstrapped"])
def test_targets_are_the_costs_along_each_examples_path(kind, mode):
    torch.manual_seed(2)
    model = tiny_tree_model().train()
    graph, plan = model.graph, RegionTables(model.graph)
    batch, k = 24, 3e-7
    x = torch.randn(batch, 3, 32, 32)
    run = SampledPass(model)(x, None, torch.rand(batch, len(graph.junctions)),
                             lambda j, s, p: junction_policy(plan, j, s, p, tau=2.0))
    err = torch.rand(batch, dtype=torch.float64)
    leaf_value = err + k * plan.region_ops[plan.leaf_regions[run.leaf_of]]
    targets = sampled_targets(run.visits, leaf_value, plan.region_ops, torch.full((batch,), k, dtype=torch.float64),
                              kind, mode)
    scores_of = {(plan.junctions[v.junction], int(b)): v.scores[i].tolist()
                 for v in run.visits for i, b in enumerate(v.rows)}
    for visit, target in zip(run.visits, targets):
        for i, b in enumerate(visit.rows.tolist()):
            oracle = _oracle_targets(graph, plan, b, int(run.leaf_of[b]), float(err[b]), k, scores_of, kind, mode)
            assert float(target[i]) == pytest.approx(oracle[plan.junctions[visit.junction]], rel=1e-9, abs=1e-12)
    assert len({len(v.rows) for v in run.visits}) > 1  # the batch did split


# -- TALR ---------------------------------------------------------------------------------------------
def test_talr_is_the_square_root_of_batch_over_examples_that_ran_the_region():
    torch.manual_seed(3)
    model = tiny_tree_model().train()
    strategy = critic(model, talr=True)
    batch = 32
    x, labels = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    run = SampledPass(model)(x, None, torch.rand(batch, 2), lambda j, s, p: strategy.junction_policy(j, s, p, 3.0))
    scales = talr_scales(strategy.sampled_loss(run, labels, K).region_p)
    counts = [0] * len(model.graph.regions)
    for leaf in run.leaf_of.tolist():
        for r in model.graph.paths[leaf].regions:
            counts[r] += 1
    expected = [math.sqrt(batch / c) if c else 1.0 for c in counts]
    assert scales.tolist() == pytest.approx(expected, rel=1e-6)
    assert 0 < min(counts[1:]) < batch  # some regions ran part of the batch
    # sampled_talr='mean': B / n_r, applied to the gradients by after_backward
    strategy.sampled_talr = "mean"
    result = strategy.sampled_loss(run, labels, K)
    model.zero_grad()
    result.loss.backward()
    unscaled = {n: p.grad.clone() for n, p in model.named_parameters()}
    strategy.after_backward(result)
    regions = model.owner_regions()
    for name, p in model.named_parameters():
        owner = next(o for o in regions if name.split(".")[1] == o.replace(".", "__"))
        c = counts[regions[owner]]
        assert torch.allclose(p.grad, unscaled[name] * (batch / c if c else 1.0)), name


def test_talr_makes_the_update_variance_independent_of_traffic():
    """The derivation in docs/training.md: with z_b ~ Bernoulli(q) whether example b ran the region and
    g_b its gradient (mean 0, variance v), sqrt(B / n) * mean_b(z_b g_b) has the variance v / B of a
    region every example runs; without TALR the variance is q v / B. 20,000 simulated batches."""
    gen = torch.Generator().manual_seed(0)
    batch, trials = 16, 20_000
    for q in (0.1, 0.5):
        z = (torch.rand(trials, batch, generator=gen, dtype=torch.float64) < q).double()
        g = torch.randn(trials, batch, generator=gen, dtype=torch.float64)
        n = z.sum(1)
        plain = (z * g).mean(1)
        scaled = torch.where(n > 0, torch.sqrt(batch / n.clamp(min=1)), torch.ones_like(n)) * plain
        reached = n > 0
        assert scaled[reached].var().item() * batch == pytest.approx(1.0, rel=0.05)
        assert plain.var().item() * batch == pytest.approx(q, rel=0.05)


# -- batch norm over sub-batches, and what does not run -----------------------------------------------
def test_a_branch_no_example_reached_does_not_run_and_keeps_its_statistics():
    model = model_that_routes(tiny_chain()).train()
    strategy = critic(model)
    calls = []
    for name, module in model.nodes.items():
        module.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, labels = torch.randn(8, 3, 8, 8), torch.randint(0, 4, (8,))
    run = SampledPass(model)(x, None, torch.zeros(8, 2), lambda j, s, p: torch.tensor([[1.0, 0.0]]).expand(len(s), 2))
    assert run.leaf_of.tolist() == [0] * 8 and "conv2" not in calls and "exit1" in calls
    strategy.sampled_loss(run, labels, K).loss.backward()
    deep, first = model.nodes["conv2"].conv.weight.grad, model.nodes["conv1"].conv.weight.grad
    assert (deep is None or not deep.any()) and first.abs().sum() > 0
    after = model.state_dict()
    for key in ("nodes.bn2.running_mean", "nodes.bn2.num_batches_tracked", "nodes.bn3.running_var"):
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["nodes.bn1.running_mean"], after["nodes.bn1.running_mean"])


def vector_branch_model():
    spec = {"name": "vec", "input": {"name": "image", "shape": [3, 4, 4]}, "nodes": [
        {"name": "flat", "kind": "flatten", "input": "image"},
        {"name": "exit1", "kind": "classifier", "input": "flat", "classes": 3},
        {"name": "fc", "kind": "linear", "input": "flat", "features": 6},
        {"name": "bn", "kind": "batchnorm", "input": "fc"},
        {"name": "exit2", "kind": "classifier", "input": "bn", "classes": 3},
        {"name": "j", "kind": "junction", "router": {"reads": "flat", "layers": [{"kind": "linear", "features": 2}]},
         "sinks": ["exit1", "fc"]}]}
    from routegraph.spec.schema import Spec

    return build_model(compile_spec(Spec(**spec))).train()


def test_one_example_in_a_vector_branch_normalises_with_the_running_statistics():
    model = vector_branch_model()
    bn = model.nodes["bn"]
    strategy = critic(model)
    u = torch.tensor([[0.0], [0.0], [0.99]])  # zero-initialised router: 50/50; the third example goes deep
    run = SampledPass(model)(torch.randn(3, 3, 4, 4), None, u, lambda j, s, p: strategy.junction_policy(j, s, p, 1.0))
    assert run.leaf_of.tolist() == [0, 0, 1]
    strategy.sampled_loss(run, torch.tensor([0, 1, 2]), K).loss.backward()
    assert int(bn.num_batches_tracked) == 0 and bn.training  # left as it was, and back in training mode
    assert torch.equal(bn.running_mean, torch.zeros(6)) and model.nodes["fc"].weight.grad.abs().sum() > 0


# -- the trainer, end to end ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def task():
    from routegraph.data import load_task

    return load_task("synthetic", n_train=300, n_test=60, seed=1)


def _trainer(task, iterations, **settings):
    from routegraph.train import Trainer
    from routegraph.train.strategies import strategy_from_config

    torch.manual_seed(0)
    graph = compile_spec(tiny_chain_spec(classes=10, size=32), k_cpt_input=bool(settings.get("dynamic_k_cpt")))
    model = build_model(graph)
    config = TrainConfig(**{"method": "pragmatic_critic", "iterations": iterations, "batch_size": 16, "k_cpt": 1e-6,
                            "sampled": True, **settings})
    return Trainer(model, strategy_from_config(config), task, config=config)


def test_a_sampled_run_resumes_exactly(task):
    straight = _trainer(task, 6).fit()
    partial = _trainer(task, 6).fit(until=3)
    resumed = _trainer(task, 6)
    resumed.load_state_dict(partial.state_dict())
    resumed.fit()
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("settings_", [
    {"policy": "epsilon_greedy", "epsilon": 0.3},
    {"policy": "argmax_floor", "epsilon": 0.3, "method": "optimistic_critic", "critic_targets": "bootstrapped"},
    {"dynamic_k_cpt": True, "k_cpt": 0.0},
    {"precision": "bf16"},
    {"sampled": False, "policy": "epsilon_greedy", "epsilon": 0.3},  # the dense critic, under another policy
])
def test_sampled_and_policy_settings_train(task, settings_):
    trainer = _trainer(task, 3, **settings_)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit()
    assert trainer.iteration == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_epsilon_greedy_sends_epsilon_of_the_examples_off_the_argmax(task):
    """With routers that always prefer sink 0 (exit 1), epsilon-greedy at epsilon e sends e/2 of the
    batch down sink 1 in expectation: 0.25 at e = 0.5. 20 batches of 16 drawn; the bound is 5 standard
    errors of a binomial proportion over 320 draws (0.12)."""
    trainer = _trainer(task, 1, policy="epsilon_greedy", epsilon=0.5, epsilon_half_life=1e9)
    strategy = trainer.strategy
    strategy.epsilon.fill_(0.5)
    for router in trainer.model.routers.values():
        with torch.no_grad():
            router.layers[-1].bias.copy_(torch.tensor([5.0, -5.0]))
    deep = 0
    for t in range(20):
        images, _ = trainer.stream.batch(t)
        u = torch.rand(16, 2, generator=torch.Generator().manual_seed(t))
        run = trainer._sampler(images, None, u, lambda j, s, p: strategy.junction_policy(j, s, p, 1.0))
        deep += int((run.leaf_of > 0).sum())
    assert abs(deep / 320 - 0.25) < 0.12


def test_the_cli_trains_sampled_and_refuses_an_actor(tmp_path):
    import json
    import subprocess
    import sys

    base = [sys.executable, "-m", "routegraph", "train", "specs/tiny_chain.yaml", "--k-cpt", "1e-6", "--iterations",
            "3", "--batch-size", "16", "--no-progress", "--data-option", "n_train=128", "--data-option", "n_test=32",
            "--eval-examples", "32"]
    done = subprocess.run(base + ["--strategy", "pragmatic_critic", "--sampled", "--out", str(tmp_path / "ok")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "ok" / "config.json").read_text())["train"]["sampled"] is True
    done = subprocess.run(base + ["--strategy", "actor", "--sampled", "--out", str(tmp_path / "no")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "sampled (--sampled) applies to critics only" in done.stderr and not (tmp_path / "no").exists()


def test_a_batch_splits_and_scatters_back_exactly():
    """The batched sampled pass equals each example run alone (batch norm on its running statistics,
    the one thing that couples examples): same leaves, loss and gradients."""
    torch.manual_seed(0)
    model = tiny_tree_model()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    strategy = critic(model, k_ure=1.0)
    batch = 12
    x, y, u = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,)), torch.rand(batch, 2)
    sampler = SampledPass(model)

    def choose(j, s, p):
        return strategy.junction_policy(j, s, p, 1.0)

    run = sampler(x, None, u, choose)
    batched = _grads(model, strategy.sampled_loss(run, y, K).loss)
    alone = {n: torch.zeros_like(g) for n, g in batched.items()}
    for b in range(batch):
        one = sampler(x[b:b + 1], None, u[b:b + 1], choose)
        assert int(one.leaf_of) == int(run.leaf_of[b])
        for n, g in _grads(model, strategy.sampled_loss(one, y[b:b + 1], K).loss / batch).items():
            alone[n] += g
    assert len(set(run.leaf_of.tolist())) > 2
    for n, g in batched.items():
        assert torch.allclose(g, alone[n], atol=1e-6), n
