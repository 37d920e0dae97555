"""The training step as a CUDA graph (TrainConfig.cuda_graph).

On every machine: the step that the trainer captures is capturable. It is run on
the meta device under a dispatch mode that records every host sync (``.item()``,
``.tolist()``, ``bool(tensor)``), every tensor made from host data
(``torch.tensor``) and every host tensor an operation reads: each would either
stall the step or break (or silently freeze) a capture. The auditor is checked
against those three mistakes first. The SGD update matches torch's SGD.

On a machine with a CUDA GPU: the graphed run follows the eager run's trajectory,
really replays (versions bumped, plan caches see the new weights), and captures
again after a checkpoint is loaded.
"""
import contextlib
import copy
import dataclasses

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from tiny_graphs import model_that_routes

from routegraph import compile_spec, load_spec
from routegraph.data import load_task
from routegraph.graph import static_baseline
from routegraph.train import TrainConfig, Trainer, strategy_from_config
from routegraph.train.cuda_graph import sgd_momentum_step

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
META = torch.device("meta")


class _HostData(TorchFunctionMode):
    """Tensors made from Python data (on a GPU: a host-to-device copy)."""

    def __init__(self, problems):
        super().__init__()
        self.problems = problems

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        data = args[1] if name == "new_tensor" else (args[0] if args else None)
        if name in ("tensor", "as_tensor", "new_tensor", "asarray") and not isinstance(data, torch.Tensor):
            self.problems.append(f"torch.{name}: a tensor made from host data")
        return func(*args, **(kwargs or {}))


class _Operations(TorchDispatchMode):
    """Host syncs, and operations that read or make host tensors."""

    def __init__(self, problems):
        super().__init__()
        self.problems = problems

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func)
        if "_local_scalar_dense" in name:
            self.problems.append(f"{name}: a host sync")
        host = [tuple(t.shape) for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor) and t.device.type == "cpu"]
        if host:
            self.problems.append(f"{name}: reads host tensors {host}")
        if kwargs.get("device") is not None and torch.device(kwargs["device"]).type == "cpu":
            self.problems.append(f"{name}: makes a host tensor")
        return func(*args, **kwargs)


@contextlib.contextmanager
def capture_audit():
    """Yields the list of operations seen that a CUDA graph capture cannot contain."""
    problems: list[str] = []
    with _HostData(problems), _Operations(problems):
        yield problems


@pytest.mark.parametrize("mistake", [
    lambda x: x.sum().item(),
    lambda x: bool(x.sum() > 0),
    lambda x: x + torch.tensor(1.0, device=x.device),
    lambda x: x * torch.as_tensor(2.0, dtype=torch.float64, device=x.device),
    lambda x: x[torch.arange(2)],
    lambda x: torch.zeros(2) + 1,
])
def test_the_audit_catches_what_breaks_a_capture(mistake):
    x = torch.ones(4, device=META)
    with capture_audit() as problems:
        try:
            mistake(x)
        except Exception:  # meta tensors have no values to read; the audit saw the attempt
            pass
    assert problems


@pytest.fixture(scope="module")
def task():
    task = load_task("synthetic", n_train=200, n_test=64, seed=3)
    noise = torch.rand(task.train_images.shape, generator=torch.Generator().manual_seed(0))
    return dataclasses.replace(task, train_images=task.train_images + 0.01 * noise)  # no exact max-pool ties


def _trainer(task, spec="specs/tiny_chain.yaml", *, dynamic=False, baseline=False, steps=4, **settings):
    graph = compile_spec(load_spec(spec), k_cpt_input=dynamic)
    if baseline:  # a static baseline: no junctions at all
        graph = static_baseline(graph, graph.classifiers[-1])
    config = TrainConfig(iterations=steps, batch_size=16, seed=5, lr=0.05, k_cpt=1e-7, dynamic_k_cpt=dynamic,
                         **{"device": "cpu", **settings})
    model = model_that_routes(graph)
    return Trainer(model, strategy_from_config(config), task, config=config)


CASES = [
    ("specs/tiny_chain.yaml", dict(method="actor")),
    ("specs/tiny_chain.yaml", dict(method="actor", dynamic=True)),
    ("specs/tiny_chain.yaml", dict(method="actor", regularized_policy=True, talr=False)),
    ("specs/tiny_chain.yaml", dict(method="pragmatic_critic", error="zero_one")),
    ("specs/tiny_tree.yaml", dict(method="optimistic_critic")),
    ("specs/tiny_tree.yaml", dict(method="actor", dynamic=True)),
    ("specs/tiny_chain.yaml", dict(method="static")),
    ("specs/tiny_chain.yaml", dict(method="static", baseline=True)),
]


@pytest.mark.parametrize("spec,settings", CASES, ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()))
def test_the_dense_step_is_capturable(task, spec, settings):
    trainer = _trainer(task, spec, **settings)
    trainer.step()  # momentum buffers exist before a capture, as after the warm-up
    trainer.model.to(META)
    for state in trainer.optimizer.state.values():
        state["momentum_buffer"] = state["momentum_buffer"].to(META)
    trainer.strategy.setup(trainer.model)
    images, labels = (t.to(META) for t in trainer.stream.batch(1))
    k_cpt = torch.full((16,) if settings.get("dynamic") else (), 1e-7, dtype=torch.float64, device=META)
    lr, tau = torch.full((), 0.05, device=META), torch.full((), 0.5, device=META)
    with capture_audit() as problems:
        stats = trainer._dense_step(images, labels, k_cpt, lr, tau)
    assert problems == []
    assert stats.shape == (3,)


def test_sgd_momentum_step_matches_torch_sgd():
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(3, 4)), torch.nn.Parameter(torch.randn(2, 3, 5, 5).to(memory_format=torch.channels_last))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt_ours = torch.optim.SGD(ours, lr=0.0, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    for step in range(5):
        lr = 0.1 * 0.8 ** step
        for a, b in zip(ours, theirs):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        sgd_momentum_step(opt_ours, torch.tensor(lr))
        opt_theirs.param_groups[0]["lr"] = lr
        opt_theirs.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(opt_ours.state[a]["momentum_buffer"], opt_theirs.state[b]["momentum_buffer"])
    assert set(opt_ours.state_dict()["state"][0]) == {"momentum_buffer"}  # checkpoints keep torch's layout


def test_sgd_momentum_step_refuses_what_it_does_not_implement():
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    with pytest.raises(NotImplementedError, match="nesterov"):
        sgd_momentum_step(torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True), torch.tensor(0.1))


class _Losses(list):
    def on_fit_start(self, trainer): ...
    def on_fit_end(self, trainer): ...
    def on_step_end(self, trainer, stats): self.append([stats["loss"], stats["error"], stats["mean_ops"]])


def _fit(trainer):
    losses = _Losses()
    trainer.hooks.append(losses)
    trainer.fit()
    return torch.tensor(losses)


@needs_gpu
@pytest.mark.parametrize("spec,settings", CASES[:2] + CASES[4:6] + CASES[7:])
def test_a_graphed_run_follows_the_eager_run(task, spec, settings):
    eager = _trainer(task, spec, steps=8, device="cuda", cuda_graph=False, **settings)
    graphed = _trainer(task, spec, steps=8, device="cuda", **settings)
    eager_stats, graphed_stats = _fit(eager), _fit(graphed)
    assert graphed._graphed is not None and graphed._graphed.captured  # 3 eager steps, then 5 replays
    torch.testing.assert_close(graphed_stats, eager_stats, rtol=1e-3, atol=1e-4)
    for a, b in zip(graphed.model.state_dict().values(), eager.model.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-3, atol=1e-4)


@needs_gpu
def test_replays_bump_versions_and_a_loaded_checkpoint_is_captured_again(task):
    from routegraph.infer.plan import plan_for

    trainer = _trainer(task, steps=6, device="cuda")
    trainer.fit(until=4)
    assert trainer._graphed.captured
    first_plan = plan_for(trainer.model)
    weight = next(trainer.model.parameters())
    version, before = weight._version, weight.detach().clone()
    trainer.fit(until=5)
    assert weight._version > version and not torch.equal(weight, before)
    assert plan_for(trainer.model) is not first_plan  # the inference plan saw the replayed update

    state = copy.deepcopy(trainer.state_dict())
    resumed = _trainer(task, steps=6, device="cuda")
    resumed.load_state_dict(state)
    assert not resumed._graphed.captured
    trainer.fit(), resumed.fit()
    for a, b in zip(trainer.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["lr", "lr_half_life", "tau", "tau_half_life"])
def test_schedule_values_are_checked_when_the_config_is_made(name):
    # The step reads lr and tau as device tensors, so nothing checks them later.
    from routegraph.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{name} must be > 0"):
        TrainConfig(**{name: 0.0})
