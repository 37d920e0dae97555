"""Every strategy's loss, term by term, against an independent computation.

The oracles below walk ``graph.regions`` and ``graph.paths`` example by example in
float64 and never call ``routegraph.routing``: the absolute-floor training policy,
the smoothed cross-entropy, the path-enumerated expected cost, the decisiveness
penalty, the utility targets (pragmatic and optimistic, by recursion), c_mod and
TALR. Every coefficient is set so that its term moves the loss far beyond the
float32 tolerance, and each example gets its own k_cpt, so dropping a term,
changing a constant or a sign, a mean for a sum, or sharing one k_cpt across the
batch, all fail here (docs/training.md, "The math").
"""
import pytest
import torch

from tiny_graphs import model_that_routes, tiny_chain_spec

from routegraph.graph import compile_spec, static_baseline
from routegraph.k_cpt import KCptSchedule
from routegraph.train import TrainConfig, Trainer, strategy_from_config
from routegraph.train.config import K_CPT_SET

B, CLASSES, CE_EPS = 12, 4, 1e-6  # CE_EPS: the cross-entropy's smoothing (routing/error_functions.py)


# ---------------------------------------------------------------- oracles
def softmax(scores, tau):
    return torch.softmax(scores.double() / tau, dim=1)


def oracle_region_p(graph, scores, tau, eps):
    """``[B, R]``: p(root) = 1, p(r) = (1 - eps) prod_{(j, i) on the way} softmax(s_j / tau)_i
    + eps * leaves(r) / leaves(root) (the absolute floor, the default)."""
    batch = next(iter(scores.values())).shape[0]
    columns = []
    for region in graph.regions:
        if region.parent is None:
            columns.append(torch.ones(batch, dtype=torch.float64))
            continue
        product = torch.ones(batch, dtype=torch.float64)
        for junction, sink in region.decisions:
            product = product * softmax(scores[junction], tau)[:, sink]
        columns.append((1 - eps) * product + eps * region.leaves / graph.regions[0].leaves)
    return torch.stack(columns, 1)


def oracle_cross_entropy(logits, labels):
    """``[B]``: -log(eps / C + (1 - eps) softmax(logits)_y), eps = 1e-6."""
    p = torch.softmax(logits.double(), 1)[torch.arange(len(labels)), labels]
    return -torch.log(CE_EPS / logits.shape[1] + (1 - CE_EPS) * p)


def oracle_zero_one(logits, labels):
    return (logits.argmax(1) != labels).double()


def oracle_errors(graph, out, labels, fn):
    return torch.stack([fn(out.logits[c], labels) for c in graph.classifiers], 1)  # [B, L]


def oracle_subtree_cost(graph, region_id, b, err, k, scores, kind):
    """C(r) = k ops(r) + (err(leaf) at a leaf | C(argmax child) pragmatic | min_children C optimistic)."""
    region = graph.regions[region_id]
    own = float(k[b]) * region.ops
    if region.classifier is not None:
        return own + float(err[b, graph.classifiers.index(region.classifier)])
    below = [oracle_subtree_cost(graph, c, b, err, k, scores, kind) for c in region.children]
    if kind == "pragmatic":
        return own + below[int(scores[region.junction][b].argmax())]
    return own + min(below)


def oracle_targets(graph, err, k, scores, kind):
    """u_ji = -C(sink region i of junction j), ``{junction: [B, n_j]}``."""
    return {j.name: torch.tensor([[-oracle_subtree_cost(graph, c, b, err, k, scores, kind) for c in j.sink_regions]
                                  for b in range(len(k))], dtype=torch.float64) for j in graph.junctions}


def oracle_c_mod(model, region_weight):
    """sum over conv/linear weights (dim > 1) of every node and router: weight(owner region) ||W||^2."""
    graph, total = model.graph, 0.0
    owners = [(n.name, n.region) for n in graph.nodes] + [(j.name, j.region) for j in graph.junctions]
    for name, region in owners:
        module = model.nodes[name] if name in model.nodes else model.routers[name]
        for p in module.parameters():
            if p.dim() > 1:
                total = total + region_weight[region] * p.detach().double().pow(2).sum()
    return total


def oracle_actor_loss(model, out, labels, k, tau, s):
    graph = model.graph
    p = oracle_region_p(graph, out.scores, tau, s.eps)
    err = oracle_errors(graph, out, labels, oracle_cross_entropy)
    expected = sum(p[:, path.region] * (err[:, i] + k * path.ops) for i, path in enumerate(graph.paths))
    decisive = sum(p[:, j.region] * out.scores[j.name].double().pow(2).sum(1) for j in graph.junctions)
    return (expected + s.k_dec * decisive).mean() + s.k_l2 * oracle_c_mod(model, p.mean(0))


def oracle_critic_loss(model, out, labels, k, tau, s, kind):
    graph = model.graph
    p = oracle_region_p(graph, out.scores, tau, s.eps)
    err = oracle_errors(graph, out, labels, oracle_cross_entropy)
    layers = sum(p[:, path.region] * err[:, i] for i, path in enumerate(graph.paths))
    target_err = err if s.error == "cross_entropy" else oracle_errors(graph, out, labels, oracle_zero_one)
    u = oracle_targets(graph, target_err.detach(), k, out.scores, kind)
    regression = sum(p[:, j.region] * (out.scores[j.name].double() - u[j.name]).pow(2).sum(1)
                     for j in graph.junctions)
    return (layers + s.k_ure * regression).mean() + s.k_l2 * oracle_c_mod(model, p.mean(0))


# ---------------------------------------------------------------- set-up
@pytest.fixture(scope="module")
def graph():
    return compile_spec(tiny_chain_spec(classes=CLASSES))


def _batch(graph, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, *graph.input_shape.dims, generator=gen)
    labels = torch.randint(0, CLASSES, (B,), generator=gen)
    k = torch.rand(B, generator=gen, dtype=torch.float64) * 2.0 / max(p.ops for p in graph.paths)  # k ops ~ 0..2
    return x, labels, k


def _strategy(model, method, **settings):
    # Every coefficient large enough that its term moves the loss by >> the float32 tolerance.
    config = TrainConfig(method=method, k_cpt=3e-9, k_dec=0.3, k_ure=0.7, k_l2=0.05, eps=0.02, **settings)
    strategy = strategy_from_config(config)
    strategy.setup(model)
    return strategy


def _loss(model, strategy, x, labels, k, tau):
    out = model(x)
    return out, strategy.loss(out, labels, k.float(), tau)


# ---------------------------------------------------------------- losses
def test_actor_loss_equals_the_independent_computation_with_per_example_k_cpt(graph):
    model = model_that_routes(graph, seed=1)
    x, labels, k = _batch(graph)
    strategy = _strategy(model, "actor")
    out, result = _loss(model, strategy, x, labels, k, tau=0.7)
    expected = oracle_actor_loss(model, out, labels, k.float().double(), 0.7, strategy)
    torch.testing.assert_close(result.loss.double(), expected, rtol=2e-6, atol=0)
    # one fixed k_cpt (3e-9) instead of each example's gives another loss
    fixed = oracle_actor_loss(model, out, labels, torch.full((B,), 3e-9), 0.7, strategy)
    assert abs(float((fixed - expected).detach())) > 0.1
    torch.testing.assert_close(result.region_p.double(), oracle_region_p(graph, out.scores, 0.7, 0.02))


@pytest.mark.parametrize("kind", ["pragmatic", "optimistic"])
@pytest.mark.parametrize("error", ["cross_entropy", "zero_one"])
def test_critic_loss_equals_the_independent_computation(graph, kind, error):
    model = model_that_routes(graph, seed=2)
    x, labels, k = _batch(graph, seed=1)
    strategy = _strategy(model, f"{kind}_critic", error=error)
    out, result = _loss(model, strategy, x, labels, k, tau=0.4)
    expected = oracle_critic_loss(model, out, labels, k.float().double(), 0.4, strategy, kind)
    torch.testing.assert_close(result.loss.double(), expected, rtol=2e-6, atol=0)


def test_classification_error_setting_changes_the_critic_loss(graph):
    """--error zero_one must not silently fall back to cross-entropy targets."""
    model = model_that_routes(graph, seed=2)
    x, labels, k = _batch(graph, seed=1)
    losses = [float(_loss(model, _strategy(model, "pragmatic_critic", error=e), x, labels, k, 0.4)[1].loss.detach())
              for e in ("cross_entropy", "zero_one")]
    assert abs(losses[0] - losses[1]) > 1e-2


def test_classification_error_is_refused_where_it_would_be_ignored():
    from routegraph.errors import ConfigError

    for method in ("actor", "static"):
        with pytest.raises(ConfigError, match="zero_one applies to critic targets only"):
            TrainConfig(method=method, error="zero_one")
    assert TrainConfig(method="optimistic_critic", error="zero_one").error == "zero_one"


def test_static_loss_is_mean_cross_entropy_plus_c_mod(graph):
    static = static_baseline(graph, graph.classifiers[1])
    model = model_that_routes(static)
    x, labels, k = _batch(static)
    strategy = _strategy(model, "static")
    out, result = _loss(model, strategy, x, labels, k, tau=1.0)
    (leaf,) = static.classifiers
    expected = oracle_cross_entropy(out.logits[leaf], labels).mean() + 0.05 * oracle_c_mod(model, torch.ones(1))
    torch.testing.assert_close(result.loss.double(), expected, rtol=2e-6, atol=0)


def test_regularized_policy_changes_the_gradient_not_the_value(graph):
    model = model_that_routes(graph, seed=3)
    x, labels, k = _batch(graph)
    values = []
    for regularized in (False, True):
        strategy = _strategy(model, "actor", regularized_policy=regularized)
        values.append(_loss(model, strategy, x, labels, k, 1.0)[1].loss)
    torch.testing.assert_close(values[0], values[1])


# ---------------------------------------------------------------- statistics and TALR
def test_routing_stats_are_the_argmax_routes_error_and_ops(graph):
    model = model_that_routes(graph, seed=2)
    x, labels, k = _batch(graph)
    out, result = _loss(model, _strategy(model, "actor"), x, labels, k, 1.0)
    wrong, ops = [], []
    for b in range(B):
        region = graph.regions[0]
        while region.junction is not None:
            region = graph.regions[region.children[int(out.scores[region.junction][b].argmax())]]
        wrong.append(float(out.logits[region.classifier][b].argmax() != labels[b]))
        ops.append(graph.path(region.classifier).ops)
    assert len(set(ops)) == 3, "the fixture should route examples to different exits"
    torch.testing.assert_close(result.stats.double(), torch.tensor([sum(wrong) / B, sum(ops) / B], dtype=torch.float64))


@pytest.mark.parametrize("method", ["actor", "optimistic_critic"])
def test_talr_scales_every_gradient_by_its_regions_inverse_rms(graph, method):
    model = model_that_routes(graph, seed=5)
    x, labels, k = _batch(graph)
    strategy = _strategy(model, method)
    out, result = _loss(model, strategy, x, labels, k, 0.5)
    model.zero_grad()
    result.loss.backward()
    before = {name: p.grad.clone() for name, p in model.named_parameters()}
    strategy.after_backward(result)
    rms = oracle_region_p(graph, out.scores, 0.5, 0.02).detach().pow(2).mean(0).sqrt()
    owners = {**{n.name: n.region for n in graph.nodes}, **{j.name: j.region for j in graph.junctions}}
    scaled = 0
    for name, p in model.named_parameters():
        owner = name.split(".")[1]
        scale = 1.0 if owners[owner] == 0 else float(1 / rms[owners[owner]])
        torch.testing.assert_close(p.grad, before[name] * scale, msg=name)
        scaled += scale > 1.01 and bool(before[name].abs().sum() > 0)
    assert scaled > 0
    current = {name: p.grad.clone() for name, p in model.named_parameters()}
    _strategy(model, method, talr=False).after_backward(result)  # --no-talr: gradients left alone
    assert all(torch.equal(p.grad, current[name]) for name, p in model.named_parameters())


# ---------------------------------------------------------------- settings reach the strategy
def test_every_setting_reaches_the_strategy():
    config = TrainConfig(method="pragmatic_critic", k_cpt=2e-9, k_dec=0.5, k_ure=0.25, k_l2=0.125, talr=False,
                         eps=1e-3, regularized_policy=True, dynamic_k_cpt=True, k_cpt_set=(1e-9, 5e-9), error="zero_one")
    strategy = strategy_from_config(config)
    for name in ("k_ure", "k_l2", "talr", "eps", "regularized_policy", "error"):
        assert getattr(strategy, name) == getattr(config, name), name
    # k_cpt is the trainer's (KCptSchedule), not the strategy's
    assert KCptSchedule.from_config(config) == KCptSchedule(draws=(1e-9, 5e-9))
    assert KCptSchedule.from_config(config.with_(dynamic_k_cpt=False)) == KCptSchedule(fixed=2e-9)
    assert strategy_from_config(config.with_(method="actor", error="cross_entropy")).k_dec == 0.5


# ---------------------------------------------------------------- dynamic k_cpt
def test_dynamic_k_cpt_is_drawn_per_example_uniformly_from_the_set():
    """Each example draws k_cpt uniformly from k_cpt_set (docs/training.md, "Dynamic k_cpt").

    One draw per batch would make the routers' k_cpt input constant over the batch,
    and train-mode batch norm after the routers' first layer would then erase it."""
    schedule = KCptSchedule.from_config(TrainConfig(dynamic_k_cpt=True))
    draws = schedule.sample(8000, torch.Generator().manual_seed(0))
    assert draws.shape == (8000,)
    counts = torch.tensor([(draws == torch.tensor(v, dtype=draws.dtype)).sum() for v in K_CPT_SET])
    assert int(counts.sum()) == 8000  # nothing outside the set
    # 1,000 expected each; binomial sd ~30, so 5 sd either way
    assert int(counts.min()) > 850 and int(counts.max()) < 1150, counts
    batch = schedule.sample(128, torch.Generator().manual_seed(1))
    assert len(batch.unique()) > 4  # P(<= 4 distinct values in 128 uniform draws from 8) < 1e-30


def test_trainer_gives_each_example_its_own_k_cpt_in_model_and_loss():
    from routegraph.data import load_task

    graph = compile_spec(tiny_chain_spec(size=32, classes=10), k_cpt_input=True)
    config = TrainConfig(method="actor", dynamic_k_cpt=True, iterations=2, batch_size=32, fast=False, device="cpu")
    trainer = Trainer(model_that_routes(graph), strategy_from_config(config),
                      load_task("synthetic", n_train=64, n_test=10), config=config)
    seen = {}
    forward, loss = trainer.forward, trainer.strategy.loss

    def recording_forward(images, k):
        seen["model"] = k
        return forward(images, k)

    def recording_loss(out, labels, k, tau):
        seen["loss"] = k
        return loss(out, labels, k, tau)

    trainer.forward, trainer.strategy.loss = recording_forward, recording_loss
    trainer.step()
    for where in ("model", "loss"):
        k = seen[where]
        assert k.shape == (32,), where
        assert len(k.unique()) > 1 and set(k.tolist()) <= {float(torch.tensor(v)) for v in K_CPT_SET}, where
    assert torch.equal(seen["model"], seen["loss"])


def test_oracle_policy_sums_to_one(graph):
    """The oracle itself: leaf probabilities sum to one, and each region's is its leaves' sum."""
    scores = {j.name: torch.randn(5, len(j.sinks)) for j in graph.junctions}
    p = oracle_region_p(graph, scores, 0.5, 0.02)
    leaves = [path.region for path in graph.paths]
    torch.testing.assert_close(p[:, leaves].sum(1), torch.ones(5, dtype=torch.float64))
    for region in graph.regions:
        below = [r for r in graph.subtree_regions(region.id) if graph.regions[r].classifier is not None]
        torch.testing.assert_close(p[:, region.id], p[:, below].sum(1))


def test_trainer_step_uses_the_schedules_tau_and_lr():
    from routegraph.data import load_task

    graph = compile_spec(tiny_chain_spec(size=32, classes=10))
    config = TrainConfig(method="pragmatic_critic", k_cpt=1e-6, iterations=8, batch_size=16, fast=False,
                         device="cpu", momentum=0.5)
    trainer = Trainer(model_that_routes(graph), strategy_from_config(config),
                      load_task("synthetic", n_train=32, n_test=10), config=config)
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.5
    taus, loss = [], trainer.strategy.loss

    def recording_loss(out, labels, k, tau):
        taus.append(float(tau))
        return loss(out, labels, k, tau)

    trainer.strategy.loss = recording_loss
    trainer.iteration = 5
    stats = trainer.step()
    # the small schedule of an 8-iteration critic run: tau 0.1 halving every 2, lr 0.02 halving every 4
    assert stats["tau"] == pytest.approx(0.1 * 0.5 ** (5 / 2)) and taus == [pytest.approx(stats["tau"])]
    assert stats["lr"] == pytest.approx(0.02 * 0.5 ** (5 / 4))


@pytest.mark.parametrize("iterations, method, expected", [
    (8, "actor", {"lr": 0.02, "lr_half_life": 4, "tau": 1.0, "tau_half_life": 2}),
    (8, "optimistic_critic", {"lr": 0.02, "lr_half_life": 4, "tau": 0.1, "tau_half_life": 2}),
    (40_000, "actor", {"lr": 0.1, "lr_half_life": 10_000, "tau": 1.0, "tau_half_life": 20_000}),
    (40_000, "pragmatic_critic", {"lr": 0.1, "lr_half_life": 10_000, "tau": 0.1, "tau_half_life": 20_000}),
])
def test_schedules_are_the_documented_ones(iterations, method, expected):
    """docs/training.md, "Defaults and schedules": continuous halving, the small schedule
    below 40,000 iterations, explicit values winning."""
    config = TrainConfig(method=method, iterations=iterations)
    assert config.resolved() == expected
    for t in (0, 1, 3, 17):
        assert config.lr_at(t) == pytest.approx(expected["lr"] * 0.5 ** (t / expected["lr_half_life"]), rel=1e-12)
        assert config.tau_at(t) == pytest.approx(expected["tau"] * 0.5 ** (t / expected["tau_half_life"]), rel=1e-12)
    explicit = config.with_(lr=0.3, tau=2.0, lr_half_life=5, tau_half_life=7)
    assert explicit.lr_at(10) == pytest.approx(0.3 / 4) and explicit.tau_at(14) == pytest.approx(0.5)
    assert TrainConfig(method=method, iterations=iterations, schedule="paper").resolved()["lr"] == 0.1


def test_routers_read_1e7_k_cpt_before_their_first_linear_layer():
    graph = compile_spec(tiny_chain_spec(), k_cpt_input=True)
    model = model_that_routes(graph).eval()
    x, k = torch.randn(3, 3, 8, 8), torch.tensor([0.0, 1e-9, 5e-8])
    seen = {}
    first = model.routers["j1"].layers[0]
    first.register_forward_hook(lambda module, args, out: seen.update(input=args[0]))
    model(x, k)
    assert first.in_features == graph.node("desc1").out_shape.dims[0] + 1
    torch.testing.assert_close(seen["input"][:, -1], 1e7 * k)
