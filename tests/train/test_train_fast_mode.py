"""Fast mode (TrainConfig.fast) computes the same training as the plain mode.

Same seed, same batches: the loss trajectories of the two modes agree within
float tolerance for every strategy, with a fixed and a dynamic k_cpt; the
pieces (fused multiscale conv, fused heads, prefetching) are checked on their own.

The trajectory test adds faint noise to the synthetic images. Their flat
regions make exact ties in 2x2 max-pool windows common (~2% of the windows of
the first layer); a 1-ulp difference in a conv output (another conv algorithm,
another memory layout, another thread count: plain mode with 1 and with 2
threads shows it too) can then send a window's gradient to another pixel, and
from there two runs drift apart like any two float-rounding variants of one
computation. Without exact ties the modes agree to ~1e-6 over several steps.
"""
import copy
import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tiny_graphs import model_that_routes

from routegraph import build_model, compile_spec, load_spec
from routegraph.data import BatchStream, load_task
from routegraph.graph import static_baseline
from routegraph.nn.layers import MultiscaleConv
from routegraph.train import TrainConfig, Trainer, strategy_from_config
from routegraph.train.fast import BatchPrefetcher, enable_fast_mode, fast_mode_of

SPEC = "specs/tiny_chain.yaml"
STEPS = 4


@pytest.fixture(scope="module")
def task():
    return load_task("synthetic", n_train=200, n_test=20, seed=3)


@pytest.fixture(scope="module")
def tie_free_task(task):
    noise = torch.rand(task.train_images.shape, generator=torch.Generator().manual_seed(0))
    return dataclasses.replace(task, train_images=task.train_images + 0.01 * noise)


@pytest.fixture(scope="module")
def graphs():
    spec = load_spec(SPEC)
    routed = compile_spec(spec)
    return {"routed": routed, "dynamic": compile_spec(spec, k_cpt_input=True),
            "static": static_baseline(routed, routed.classifiers[-1])}


def _trainer(graph, task, fast: bool, **settings):
    config = TrainConfig(iterations=STEPS, batch_size=32, seed=5, lr=0.05, fast=fast, device="cpu", **settings)
    model = model_that_routes(graph)
    return Trainer(model, strategy_from_config(config), task, config=config)


class _Record:
    def __init__(self):
        self.losses, self.errors = [], []

    def on_fit_start(self, trainer): ...
    def on_fit_end(self, trainer): ...

    def on_step_end(self, trainer, stats):
        self.losses.append(stats["loss"])
        self.errors.append(stats["error"])


def _fit(graph, task, fast: bool, **settings):
    trainer = _trainer(graph, task, fast, **settings)
    record = _Record()
    trainer.hooks.append(record)
    trainer.fit()
    return trainer, record


@pytest.mark.parametrize("method, graph_name, settings", [
    ("static", "static", {}),
    ("actor", "routed", {"k_cpt": 1e-7}),
    ("actor", "dynamic", {"dynamic_k_cpt": True}),
    ("pragmatic_critic", "routed", {"k_cpt": 1e-7}),
    ("optimistic_critic", "dynamic", {"dynamic_k_cpt": True}),
])
def test_fast_mode_gives_the_plain_loss_trajectory(tie_free_task, graphs, method, graph_name, settings):
    plain, plain_record = _fit(graphs[graph_name], tie_free_task, False, method=method, **settings)
    fast, fast_record = _fit(graphs[graph_name], tie_free_task, True, method=method, **settings)
    assert fast_mode_of(fast.model) == {"channels_last": True, "fused_convs": True, "fused_heads": True}
    assert fast_mode_of(plain.model) == {"channels_last": False, "fused_convs": False, "fused_heads": False}
    assert len(fast_record.losses) == STEPS
    torch.testing.assert_close(torch.tensor(fast_record.losses), torch.tensor(plain_record.losses),
                               rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(plain.model.state_dict().items(), fast.model.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4, msg=name)


def test_fast_mode_keeps_parameters_and_checkpoints(task, graphs):
    plain = _trainer(graphs["routed"], task, False, k_cpt=1e-7)
    fast = _trainer(graphs["routed"], task, True, k_cpt=1e-7)
    assert list(plain.model.state_dict()) == list(fast.model.state_dict())
    assert {k: [p.shape for p in v] for k, v in plain.model.node_parameters().items()} == \
           {k: [p.shape for p in v] for k, v in fast.model.node_parameters().items()}
    # the optimizer holds the model's own parameter objects
    assert {id(p) for g in fast.optimizer.param_groups for p in g["params"]} == {id(p) for p in fast.model.parameters()}
    fast.fit(until=2)
    plain.load_state_dict(copy.deepcopy(fast.state_dict()))  # a fast checkpoint loads into a plain trainer
    x = torch.rand(8, 3, 32, 32)
    plain.model.eval(), fast.model.eval()
    with torch.no_grad():
        a, b = plain.model(x), fast.model(x)
    for name in a.logits:
        torch.testing.assert_close(b.logits[name], a.logits[name], rtol=1e-4, atol=1e-5)


def test_fused_multiscale_conv_same_outputs_gradients_and_ops(graphs):
    torch.manual_seed(1)
    model = build_model(graphs["routed"])
    key = next(k for k, m in model.nodes.items() if isinstance(m, MultiscaleConv) and len(m.lateral) > 1)
    plain = model.nodes[key]
    fused = copy.deepcopy(plain)
    fused.fused = True
    pyramid = tuple(torch.rand(6, s.dims[0], *s.dims[1:], requires_grad=True)
                    for s in graphs["routed"].node(key.replace("__", ".")).in_shapes[0].levels)

    def run(module):
        outputs = module(pyramid)
        loss = sum((o * torch.arange(o.numel()).reshape(o.shape).sin()).sum() for o in outputs)
        grads = torch.autograd.grad(loss, [*pyramid, *module.parameters()])
        return outputs, grads

    (out_a, grad_a), (out_b, grad_b) = run(plain), run(fused)
    for a, b in zip(out_a + grad_a, out_b + grad_b):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        counts = []
        for module in (plain, fused):
            with FlopCounterMode(display=False) as counter:
                module(pyramid)
            counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] > 0


def test_fused_heads_match_with_dynamic_k_cpt(graphs):
    plain = model_that_routes(graphs["dynamic"], seed=2)
    fast = enable_fast_mode(copy.deepcopy(plain))
    assert any(entry[0] == "heads" for entry in fast._build_fused_schedule())
    x, k = torch.rand(16, 3, 32, 32), torch.rand(16) * 1e-7
    a, b = plain(x, k), fast(x, k)
    for name in a.logits:
        torch.testing.assert_close(b.logits[name], a.logits[name], rtol=1e-4, atol=1e-5)
    for name in a.scores:
        torch.testing.assert_close(b.scores[name], a.scores[name], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="k_cpt"):
        fast(x)
    enable_fast_mode(fast, False)  # and back
    assert fast_mode_of(fast) == {"channels_last": False, "fused_convs": False, "fused_heads": False}
    c = fast(x, k)
    for name in a.logits:
        torch.testing.assert_close(c.logits[name], a.logits[name], rtol=1e-4, atol=1e-5)


def test_prefetcher_returns_exactly_the_stream_batches(task):
    stream = BatchStream(task, batch_size=16, seed=4)
    reference = BatchStream(task, batch_size=16, seed=4)
    with BatchPrefetcher(stream, stop=6) as prefetch:
        for t in (0, 1, 2, 4, 5, 3):  # in order (prefetched) and out of order (computed on the spot)
            images, labels = prefetch.get(t)
            ref_images, ref_labels = reference.batch(t)
            assert torch.equal(images, ref_images) and torch.equal(labels, ref_labels)


def test_fast_fit_equals_fast_steps_without_prefetch(task, graphs, monkeypatch):
    """Prefetching changes nothing: fit() (prefetching) and bare step() calls give identical weights."""
    import routegraph.train.loop as loop

    monkeypatch.setattr(loop, "prefetch_pays", lambda: True)
    fetched = []
    original = BatchPrefetcher.get
    monkeypatch.setattr(BatchPrefetcher, "get", lambda self, t: fetched.append(t) or original(self, t))
    with_prefetch = _trainer(graphs["routed"], task, True, k_cpt=1e-7).fit()
    assert fetched == list(range(STEPS))
    without = _trainer(graphs["routed"], task, True, k_cpt=1e-7)
    while without.iteration < STEPS:
        without.step()
        without.iteration += 1
    for (name, a), b in zip(with_prefetch.model.state_dict().items(), without.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_threads_setting_is_applied(task, graphs):
    before = torch.get_num_threads()
    try:
        _trainer(graphs["static"], task, True, method="static", threads=1)
        assert torch.get_num_threads() == 1
        _trainer(graphs["static"], task, True, method="static")  # 0: leaves the setting alone
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
