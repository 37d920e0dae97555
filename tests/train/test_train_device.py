"""TrainConfig.device: validation everywhere; on a machine with a CUDA GPU, the GPU
trains the same network as the CPU (within float tolerance: cuDNN may use TF32),
evaluates it, and its checkpoints resume on the CPU."""
import copy
import dataclasses

import pytest
import torch

from tiny_graphs import model_that_routes

from routegraph import compile_spec, load_spec
from routegraph.data import load_task
from routegraph.errors import ConfigError
from routegraph.train import TrainConfig, Trainer, strategy_from_config
from routegraph.train.evaluate import evaluate
from routegraph.train.loop import resolve_device

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_devices_are_refused(name):
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
        TrainConfig(device=name)


def test_auto_and_cpu_resolve_without_a_gpu():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        resolve_device("cuda")


@pytest.fixture(scope="module")
def task():
    task = load_task("synthetic", n_train=200, n_test=64, seed=3)
    noise = torch.rand(task.train_images.shape, generator=torch.Generator().manual_seed(0))
    return dataclasses.replace(task, train_images=task.train_images + 0.01 * noise)  # no exact max-pool ties


def _trainer(task, device, steps=4):
    graph = compile_spec(load_spec("specs/tiny_chain.yaml"))
    config = TrainConfig(iterations=steps, batch_size=32, seed=5, lr=0.05, k_cpt=1e-7, device=device)
    model = model_that_routes(graph)
    return Trainer(model, strategy_from_config(config), task, config=config)


class _Losses(list):
    def on_fit_start(self, trainer): ...
    def on_fit_end(self, trainer): ...
    def on_step_end(self, trainer, stats): self.append(stats["loss"])


@needs_gpu
def test_gpu_training_follows_the_cpu_trajectory_and_evaluates(task):
    runs = {}
    for device in ("cpu", "cuda"):
        trainer, losses = _trainer(task, device), _Losses()
        trainer.hooks.append(losses)
        trainer.fit()
        runs[device] = (trainer, losses)
    gpu = runs["cuda"][0]
    assert next(gpu.model.parameters()).is_cuda
    torch.testing.assert_close(torch.tensor(runs["cuda"][1]), torch.tensor(runs["cpu"][1]), rtol=2e-2, atol=2e-3)
    a = evaluate(runs["cpu"][0].model, task.test_images, task.test_labels)
    b = evaluate(gpu.model, task.test_images, task.test_labels)
    assert b["n"] == a["n"] == len(task.test_labels)
    assert abs(b["error_rate"] - a["error_rate"]) <= 0.1


@needs_gpu
def test_a_gpu_checkpoint_resumes_on_the_cpu(task):
    gpu = _trainer(task, "cuda", steps=4)
    gpu.fit(until=2)
    state = copy.deepcopy(gpu.state_dict())
    cpu = _trainer(task, "cpu", steps=4)
    cpu.load_state_dict({**state, "model": {k: v.cpu() for k, v in state["model"].items()}})
    cpu.fit()
    gpu.fit()
    for (name, a), b in zip(cpu.model.state_dict().items(), gpu.model.state_dict().values()):
        torch.testing.assert_close(b.cpu(), a, rtol=2e-2, atol=2e-3, msg=name)
