"""bf16 precision (routegraph.nn.precision): convolutions really run in bfloat16 (a dispatch spy is the
oracle), everything after the network is fp32, forced routes and op counts are exact, results stay near
fp32, 'auto' never picks bf16 without native support and caches what it measured, and a run records
the precision it trained in."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infer"))

from infer_helpers import mixed_force, randomize, tiny_chain_graph  # noqa: E402
from routegraph.errors import ConfigError  # noqa: E402
from routegraph.infer import dense_route, route  # noqa: E402
from routegraph.nn import build_model  # noqa: E402
from routegraph.nn import precision as P  # noqa: E402
from routegraph.train import TrainConfig, Trainer, strategy_from_config  # noqa: E402
from routegraph.train.evaluate import evaluate  # noqa: E402
from tiny_graphs import model_that_routes  # noqa: E402


class ConvDtypes(TorchDispatchMode):
    """Records the input dtype of every convolution and matrix product that runs."""

    OPS = ("convolution", "mkldnn_convolution", "addmm", "mm", "linear")

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if any(op == func.__name__.split(".")[0] for op in self.OPS):
            self.seen.append(args[0].dtype)
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def model():
    return randomize(build_model(tiny_chain_graph()), seed=4).eval()


def test_bf16_route_runs_its_convolutions_in_bf16_and_returns_fp32(model):
    x = torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        with ConvDtypes() as spy:
            out = route(model, x, precision=precision)
        assert spy.seen and set(spy.seen) == {dtype}, (precision, set(spy.seen))
        assert out.logits.dtype == torch.float32
        assert torch.equal(out.predictions, out.logits.argmax(1))


def test_forced_routes_and_ops_are_exact_in_bf16_and_logits_near_fp32(model):
    n = 40
    x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    exits, force = mixed_force(model.graph, n, seed=2)
    full, half = route(model, x, force=force), route(model, x, force=force, precision="bf16")
    assert torch.equal(half.exit, exits) and torch.equal(half.exit, full.exit) and torch.equal(half.ops, full.ops)
    # bf16 keeps 8 bits of mantissa: measured 0.0034-0.0038 over input seeds 0-4 (AMD EPYC, avx512_bf16);
    # the bound leaves 13x for other CPUs' rounding
    relative = (half.logits - full.logits).norm() / full.logits.norm()
    assert 0 < relative < 0.05, relative


def test_a_dynamic_k_cpt_network_routes_in_bf16():
    from infer_helpers import k_sensitive

    model = k_sensitive(build_model(tiny_chain_graph(k_cpt_input=True)), seed=1)
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    for k in (0.0, 6.4e-8):  # k_sensitive's routers exit at sink 0 only for large k_cpt, by construction
        full, half = route(model, x, k, precision="bf16"), route(model, x, k)
        assert torch.equal(full.exit, half.exit)
    assert not torch.equal(route(model, x, 0.0, precision="bf16").exit, route(model, x, 6.4e-8, precision="bf16").exit)


def test_dense_bf16_is_what_evaluate_reports(model):
    x = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    labels = torch.randint(10, (32,), generator=torch.Generator().manual_seed(3))
    dense = dense_route(model, x, precision="bf16", batch_size=16)
    record = evaluate(model, x, labels, precision="bf16", batch_size=16)
    assert record["precision"] == "bf16" and "precision" not in evaluate(model, x, labels)
    assert record["error_rate"] == pytest.approx(1 - (dense.predictions == labels).double().mean().item())
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, auto"):
        evaluate(model, x, labels, precision="fp16")


@pytest.mark.parametrize("fast, dynamic", [(False, False), (True, False), (True, True)])
def test_a_bf16_training_step_keeps_losses_statistics_and_weights_in_fp32(fast, dynamic):
    from routegraph.graph import compile_spec
    from tiny_graphs import tiny_chain_spec

    graph = compile_spec(tiny_chain_spec(), k_cpt_input=dynamic)
    model = model_that_routes(graph)
    from routegraph.data.task import Task

    g = torch.Generator().manual_seed(0)
    task = Task.from_arrays(torch.rand(64, 3, 8, 8, generator=g), torch.randint(4, (64,), generator=g),
                            torch.rand(16, 3, 8, 8, generator=g), torch.randint(4, (16,), generator=g))
    config = TrainConfig(k_cpt=1e-6, iterations=2, batch_size=16, precision="bf16", fast=fast, dynamic_k_cpt=dynamic)
    trainer = Trainer(model, strategy_from_config(config), task, config=config)
    assert (trainer.precision, trainer.precision_reason) == ("bf16", "asked for")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with ConvDtypes() as spy:
        stats = trainer.step()
    assert torch.bfloat16 in spy.seen
    assert all(v.dtype == before[k].dtype for k, v in model.state_dict().items())  # fp32 weights and BN stats
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if "running_mean" in k)
    assert all(isinstance(v, float) and v == v for v in stats.values())


def test_auto_never_picks_bf16_without_native_support(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(P, "native_bf16", lambda device_type="cpu": False)
    called = []
    chosen, why = P.choose("auto", "cpu", measure=lambda p: called.append(p) or 1.0, key="k")
    assert chosen == "fp32" and "no native bfloat16" in why and not called


@pytest.mark.parametrize("fp32, bf16, expected", [(2.0, 1.0, "bf16"), (1.0, 1.0, "fp32"), (1.02, 1.0, "fp32")])
def test_auto_measures_once_and_caches_the_choice(monkeypatch, tmp_path, fp32, bf16, expected):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(P, "native_bf16", lambda device_type="cpu": True)
    times = {"fp32": fp32, "bf16": bf16}
    called = []

    def measure(p):
        called.append(p)
        return times[p]

    assert P.choose("auto", "cpu", measure=measure, key="net|256")[0] == expected
    assert sorted(called) == ["bf16", "fp32"]
    assert P.choose("auto", "cpu", measure=measure, key="net|256") == (expected, "auto: measured earlier on this "
                                                                                  "machine (cached)")
    assert len(called) == 2  # the second call read the cache
    assert json.loads((tmp_path / "routegraph" / P.CACHE_NAME).read_text())
    assert P.choose("auto", "cpu", measure=measure, key="other|256")[0] == expected and len(called) == 4


def test_a_run_records_the_precision_it_trained_in(tmp_path):
    from routegraph.train.run import train_run

    config = TrainConfig(k_cpt=1e-7, iterations=2, batch_size=8, checkpoint_every=0, precision="bf16")
    train_run("specs/tiny_chain.yaml", tmp_path / "run", config, data="synthetic",
              data_options={"n_train": 40, "n_test": 20}, progress=False)
    written = json.loads((tmp_path / "run" / "config.json").read_text())
    assert written["precision"] == {"setting": "bf16", "used": "bf16", "reason": "asked for"}
    assert written["train"]["precision"] == "bf16"
    assert all(e["precision"] == "bf16" for e in json.loads((tmp_path / "run" / "eval.json").read_text())["evaluations"])
    from routegraph.runs import run_id

    assert run_id(config, "s", {}) != run_id(config.with_(precision="fp32"), "s", {})  # bf16 is its own run
    with pytest.raises(ConfigError, match="precision must be fp32, bf16 or auto, got 'fp16'"):
        TrainConfig(precision="fp16")


def test_calibrate_runs_its_dense_table_in_bf16():
    from infer_helpers import k_sensitive
    from routegraph.infer.calibrate import calibrate_run

    model = k_sensitive(build_model(tiny_chain_graph(k_cpt_input=True)), seed=1)
    g = torch.Generator().manual_seed(6)
    x, labels = torch.rand(32, 3, 32, 32, generator=g), torch.randint(10, (32,), generator=g)
    full = max(p.ops for p in model.graph.paths)
    with ConvDtypes() as spy:
        result = calibrate_run(model, x[:16], labels[:16], 0.9 * full, (0.0, 1e-8, 6.4e-8), verify_on=(x[16:], labels[16:]),
                               precision="bf16")
    assert torch.bfloat16 in spy.seen and result.k_cpt is not None  # the table in bf16; its routers read it in fp32


def test_the_cli_evaluates_in_bf16_and_refuses_it_for_an_export(tmp_path, capsys):
    from infer_helpers import write_run
    from routegraph.cli.main import main

    run = write_run(tmp_path / "run", randomize(build_model(tiny_chain_graph()), seed=2), dynamic=False, k_cpt=1e-8)
    assert main(["evaluate", str(run), "--precision", "bf16"]) == 0
    assert [e.get("precision") for e in json.loads((run / "eval.json").read_text())["evaluations"]] == ["bf16"]
    np = pytest.importorskip("numpy")
    images = tmp_path / "x.npy"
    np.save(images, np.zeros((2, 3, 32, 32), dtype=np.float32))
    capsys.readouterr()
    assert main(["predict", str(run), str(images), "--runtime", "onnx", "--precision", "bf16"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "applies to --runtime torch" in err
