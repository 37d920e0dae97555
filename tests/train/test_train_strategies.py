"""Gradient flow of the strategies: what reaches routers, layers, and what is stopped."""
import pytest
import torch

from routegraph.nn import build_model
from routegraph.train.strategies import Actor, OptimisticCritic, PragmaticCritic, Static, strategy_from_config
from tiny_graphs import tiny_chain


def _grads(model, strategy, k_cpt=1e-3, tau=1.0, **kwargs):
    torch.manual_seed(0)
    strategy.setup(model)
    x = torch.randn(16, 3, 8, 8)
    labels = torch.randint(0, 4, (16,))
    model.zero_grad()
    result = strategy.loss(model(x), labels, k_cpt, tau)
    result.loss.backward()
    return result, {name: p.grad for name, p in model.named_parameters()}


def _router_grads(model, grads):
    return [g for name, g in grads.items() if name.startswith("routers.")]


def _randomize_router_heads(model):
    # The last router layer starts at zero; give it weights so gradients are generic.
    for router in model.routers.values():
        torch.nn.init.normal_(router.layers[-1].weight, std=0.5)


def test_actor_routers_get_gradient_from_error_term():
    model = build_model(tiny_chain())
    _randomize_router_heads(model)
    _, grads = _grads(model, Actor(k_dec=0.0, k_l2=0.0), k_cpt=0.0)
    assert any(g is not None and g.abs().sum() > 0 for g in _router_grads(model, grads))


def test_actor_routers_get_gradient_from_compute_term_alone():
    model = build_model(tiny_chain())
    _randomize_router_heads(model)
    # Zero the classifiers so every leaf error is the same: only compute differs between routes.
    for name in ("exit1", "exit2", "exit3"):
        torch.nn.init.zeros_(model.nodes[name].weight)
        torch.nn.init.zeros_(model.nodes[name].bias)
    strategy = Actor(k_dec=0.0, k_l2=0.0)
    _, grads = _grads(model, strategy)
    head = model.routers["j1"].layers[-1]
    assert grads["routers.j1.layers.2.weight"].abs().sum() > 0
    # Compute cost pushes towards the cheaper sink 0 (exit): gradient on sink 0's bias is negative.
    assert head.bias.grad[0] < 0 < head.bias.grad[1]


@pytest.mark.parametrize("cls", [PragmaticCritic, OptimisticCritic])
def test_critic_routers_get_gradient_only_from_regression(cls):
    model = build_model(tiny_chain())
    _randomize_router_heads(model)
    _, grads = _grads(model, cls(k_ure=0.0, k_l2=0.0))
    assert all(g is None or g.abs().sum() == 0 for g in _router_grads(model, grads))
    _, grads = _grads(model, cls(k_ure=1.0, k_l2=0.0))
    assert all(g is not None and g.abs().sum() > 0 for name, g in grads.items() if name.startswith("routers.") and "layers.2" in name)


def test_critic_layers_learn_from_probability_weighted_error():
    model = build_model(tiny_chain())
    _randomize_router_heads(model)
    _, grads = _grads(model, PragmaticCritic(k_ure=0.0, k_l2=0.0))
    assert grads["nodes.exit1.weight"].abs().sum() > 0 and grads["nodes.conv3.conv.weight"].abs().sum() > 0


def test_decisiveness_penalty_does_not_reach_policy_through_p():
    # With k_dec only (no error or compute gradient through p), the router gradient must equal
    # the analytic gradient of sg(p) * ||s||^2, i.e. 2 * sg(p(j)) * s / B.
    model = build_model(tiny_chain())
    _randomize_router_heads(model)
    strategy = Actor(k_dec=1.0, k_l2=0.0)
    strategy.setup(model)
    x = torch.randn(8, 3, 8, 8)
    out = model(x)
    scores = out.scores["j1"]
    scores.retain_grad()
    from routegraph.routing import decisiveness_penalty, region_probabilities, training_policy

    p = region_probabilities(strategy.plan, training_policy(strategy.plan, out.scores, 1.0))
    decisiveness_penalty(out.scores, p, strategy.plan).mean().backward()
    assert torch.allclose(scores.grad, 2 * scores.detach() / 8)  # p(root) = 1


def test_regularized_policy_lets_c_mod_reach_routers():
    model = build_model(tiny_chain())
    _randomize_router_heads(model)
    base = dict(k_dec=0.0, k_l2=1.0, talr=False)
    _, stopped = _grads(model, Actor(**base), k_cpt=0.0)
    _, through = _grads(model, Actor(regularized_policy=True, **base), k_cpt=0.0)
    key = "routers.j1.layers.2.bias"
    assert not torch.allclose(stopped[key], through[key])


def test_talr_scales_gradients_of_rarely_reached_layers():
    model = build_model(tiny_chain())
    _randomize_router_heads(model)
    strategy = Actor(k_l2=0.0, talr=True)
    result, grads = _grads(model, strategy)
    before = {k: v.clone() for k, v in grads.items()}
    strategy.after_backward(result)
    p = result.region_p
    deep_region = model.graph.node("conv3").region
    scale = 1 / p[:, deep_region].pow(2).mean().sqrt()
    assert torch.allclose(model.nodes["conv3"].conv.weight.grad, before["nodes.conv3.conv.weight"] * scale)
    assert torch.equal(model.nodes["conv1"].conv.weight.grad, before["nodes.conv1.conv.weight"])  # root: 1


def test_static_strategy_is_plain_cross_entropy():
    from routegraph.graph import static_baseline

    graph = static_baseline(tiny_chain(), "exit2")
    model = build_model(graph)
    strategy = Static(k_l2=0.0)
    strategy.setup(model)
    x, labels = torch.randn(8, 3, 8, 8), torch.randint(0, 4, (8,))
    out = model(x)
    result = strategy.loss(out, labels, 0.0, 1.0)
    expected = torch.nn.functional.cross_entropy(out.logits["exit2"], labels)
    assert torch.allclose(result.loss, expected, atol=1e-5)


def test_every_declared_method_builds_its_class_and_suggests_on_a_typo():
    from routegraph.errors import UnknownNameError
    from routegraph.methods import get_method, methods
    from routegraph.train.config import TrainConfig

    built = {m.name: strategy_from_config(TrainConfig(method=m.name)) for m in methods()}
    assert {name: type(s) for name, s in built.items()} == {
        "static": Static, "actor": Actor, "pragmatic_critic": PragmaticCritic, "optimistic_critic": OptimisticCritic}
    assert all(s.name == name for name, s in built.items())
    assert built["actor"].k_dec == 0.01 and built["pragmatic_critic"].k_ure == 0.001
    with pytest.raises(UnknownNameError, match="did you mean 'actor'"):
        get_method("acter")
