"""torchrun data parallelism (2 processes on localhost) equals one process: on CPUs
with gloo in CI, and on GPUs where there are some (NCCL with a GPU per process, else
gloo with the processes sharing the GPU)."""
import json
import shutil
import subprocess
import sys

import pytest
import torch

from routegraph.errors import ConfigError
from routegraph.train.checkpoint import load_checkpoint
from routegraph.train.distributed import DistContext, choose_backend
from routegraph.train.loop import resolve_device

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ARGS = ["specs/tiny_chain.yaml", "--strategy", "actor", "--k-cpt", "1e-6", "--iterations", "4", "--batch-size", "16",
        "--log-every", "1", "--checkpoint-every", "2", "--no-progress", "--data-option", "n_train=256",
        "--data-option", "n_test=64", "--eval-examples", "64"]


def _train(out, processes: int, *extra):
    args = [*ARGS, *extra, "--out", str(out)]
    if processes == 1:
        command = [sys.executable, "-m", "routegraph", "train", *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                   "-m", "routegraph", "train", *args]
    # NVIDIA_TF32_OVERRIDE=0: full-precision float32 on GPUs, so 1 and 2 processes compare closely.
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(out.parent), "NVIDIA_TF32_OVERRIDE": "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**env, **_python_env()})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _python_env():
    import os

    return {k: v for k, v in os.environ.items() if k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP"))}


def _weights(run):
    return load_checkpoint(run / "checkpoint.pt")["model"]


def _assert_equivalent(tmp_path, atol=2e-5, rtol=1e-4, error_tol=1e-6):
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for key in one:
        assert torch.allclose(one[key].float(), two[key].float(), atol=atol, rtol=rtol), key
    # Routing statistics are global means: rank 0 logs what one process logs.
    def lines(run):
        return [json.loads(l) for l in (tmp_path / run / "metrics.jsonl").read_text().splitlines() if "eval" not in l]
    for a, b in zip(lines("one"), lines("two")):
        assert a["iteration"] == b["iteration"]
        assert a["loss"] == pytest.approx(b["loss"], rel=rtol, abs=1e-6)
        assert a["mean_ops"] == pytest.approx(b["mean_ops"], rel=rtol / 100)
        assert a["error"] == pytest.approx(b["error"], abs=error_tol)


@pytest.mark.skipif(shutil.which("true") is None, reason="needs a POSIX environment")
def test_two_processes_match_one_process(tmp_path):
    _train(tmp_path / "one", 1, "--device", "cpu")
    _train(tmp_path / "two", 2, "--device", "cpu")
    _assert_equivalent(tmp_path)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["world_size"] == 2 and config["batch_size_per_rank"] == 8 and config["dist_backend"] == "gloo"
    # Per-rank batch norm is a different computation: it must not match one process.
    _train(tmp_path / "local-bn", 2, "--device", "cpu", "--no-sync-batch-norm")
    local = _weights(tmp_path / "local-bn")
    one = _weights(tmp_path / "one")
    assert any(not torch.allclose(one[k].float(), local[k].float(), atol=2e-5, rtol=1e-4) for k in one)


@needs_gpu
def test_two_processes_on_gpus_match_one_process(tmp_path):
    _train(tmp_path / "one", 1, "--device", "cuda")
    _train(tmp_path / "two", 2, "--device", "cuda")
    # cuDNN picks algorithms per batch size; one example's prediction may flip.
    _assert_equivalent(tmp_path, atol=1e-4, rtol=1e-3, error_tol=1 / 16 + 1e-6)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["dist_backend"] == ("nccl" if torch.cuda.device_count() >= 2 else "gloo")


@pytest.mark.parametrize("requested, device, processes, gpus, expected", [
    ("auto", "cpu", 2, 0, "gloo"), ("auto", "cuda", 2, 2, "nccl"), ("auto", "cuda", 4, 8, "nccl"),
    ("auto", "cuda", 2, 1, "gloo"), ("gloo", "cuda", 2, 2, "gloo"), ("nccl", "cuda", 2, 2, "nccl"),
])
def test_backend_choice(requested, device, processes, gpus, expected):
    assert choose_backend(requested, device, processes, gpus) == expected


@pytest.mark.parametrize("requested, device, processes, gpus, message", [
    ("nccl", "cpu", 2, 0, "CUDA GPUs only"), ("nccl", "cuda", 2, 1, "one GPU per process"),
    ("mpi", "cpu", 2, 0, "must be one of auto, gloo, nccl"),
])
def test_impossible_backends_are_clear_errors(requested, device, processes, gpus, message):
    with pytest.raises(ConfigError, match=message):
        choose_backend(requested, device, processes, gpus)


@needs_gpu
def test_each_process_takes_its_local_gpu():
    count = torch.cuda.device_count()
    for local_rank in range(3):
        context = DistContext(rank=local_rank, world_size=3, local_rank=local_rank)
        assert resolve_device("cuda", context) == torch.device("cuda", local_rank % count)
    with pytest.raises(ConfigError, match="cuda:LOCAL_RANK"):
        resolve_device("cuda:0", DistContext(rank=0, world_size=2))


PLAIN_CHAIN = """
name: plain_chain
input: {name: image, shape: [3, 32, 32]}
blocks:
  router: [{kind: linear, features: 8}, {kind: relu}, {kind: linear, features: 2}]
nodes:
  - {name: small, kind: resize, input: image, size: 8}
  - {name: c1, kind: conv2d, input: small, channels: 4}
  - {name: r1, kind: relu, input: c1}
  - {name: d1, kind: flatten, input: r1}
  - {name: e1, kind: classifier, input: d1, classes: 10}
  - {name: j1, kind: junction, router: {reads: d1, block: router}, sinks: [e1, c2]}
  - {name: c2, kind: conv2d, input: r1, channels: 8}
  - {name: r2, kind: relu, input: c2}
  - {name: d2, kind: flatten, input: r2}
  - {name: e2, kind: classifier, input: d2, classes: 10}
  - {name: j2, kind: junction, router: {reads: d2, block: router}, sinks: [e2, c3]}
  - {name: c3, kind: conv2d, input: r2, channels: 8}
  - {name: r3, kind: relu, input: c3}
  - {name: d3, kind: flatten, input: r3}
  - {name: e3, kind: classifier, input: d3, classes: 10}
"""


@pytest.mark.skipif(shutil.which("true") is None, reason="needs a POSIX environment")
def test_sampled_critics_on_two_processes_match_one_process(tmp_path, monkeypatch):
    """A sampled step skips branches (on one rank and not the other); its gradients are all-reduced whole.
    The network has no batch norm, whose statistics a sampled step keeps per process."""
    spec = tmp_path / "plain_chain.yaml"
    spec.write_text(PLAIN_CHAIN)
    monkeypatch.setattr(sys.modules[__name__], "ARGS", [str(spec), *ARGS[1:2], "pragmatic_critic", *ARGS[3:],
                                                        "--sampled", "--no-sync-batch-norm", "--policy",
                                                        "epsilon_greedy", "--epsilon", "0.5"])
    _train(tmp_path / "one", 1, "--device", "cpu")
    _train(tmp_path / "two", 2, "--device", "cpu")
    _assert_equivalent(tmp_path)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["train"]["sampled"] is True and config["train"]["policy"] == "epsilon_greedy"
    assert config["world_size"] == 2


def test_sampled_critics_refuse_global_batch_norm_under_torchrun(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
               "routegraph", "train", *ARGS[:2], "pragmatic_critic", *ARGS[3:], "--sampled", "--device", "cpu",
               "--out", str(tmp_path / "run")]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**env, **_python_env()})
    assert done.returncode != 0
    # (torchrun prints its own traceback when a process fails; none comes from routegraph's code)
    assert "pass --no-sync-batch-norm" in done.stderr and "routegraph/train" not in done.stderr
