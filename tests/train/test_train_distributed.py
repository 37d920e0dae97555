"""torchrun data parallelism on CPU (gloo, 2 processes on localhost) equals one process."""
import json
import shutil
import subprocess
import sys

import pytest
import torch

from routegraph.train.checkpoint import load_checkpoint

ARGS = ["specs/tiny_chain.yaml", "--strategy", "actor", "--k-cpt", "1e-6", "--iterations", "4", "--batch-size", "16",
        "--log-every", "1", "--checkpoint-every", "2", "--no-progress", "--data-option", "n_train=256",
        "--data-option", "n_test=64", "--eval-examples", "64"]


def _train(out, processes: int):
    if processes == 1:
        command = [sys.executable, "-m", "routegraph", "train", *ARGS, "--out", str(out)]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                   "-m", "routegraph", "train", *ARGS, "--out", str(out)]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(out.parent)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**env, **_python_env()})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _python_env():
    import os

    return {k: v for k, v in os.environ.items() if k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP"))}


@pytest.mark.skipif(shutil.which("true") is None, reason="needs a POSIX environment")
def test_two_processes_match_one_process(tmp_path):
    _train(tmp_path / "one", 1)
    _train(tmp_path / "two", 2)
    one = load_checkpoint(tmp_path / "one" / "checkpoint.pt")["model"]
    two = load_checkpoint(tmp_path / "two" / "checkpoint.pt")["model"]
    for key in one:
        assert torch.allclose(one[key].float(), two[key].float(), atol=2e-5, rtol=1e-4), key
    # Routing statistics are global means: rank 0 logs what one process logs.
    def lines(run):
        return [json.loads(l) for l in (tmp_path / run / "metrics.jsonl").read_text().splitlines() if "eval" not in l]
    for a, b in zip(lines("one"), lines("two")):
        assert a["iteration"] == b["iteration"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-6)
        assert a["mean_ops"] == pytest.approx(b["mean_ops"], rel=1e-6)
        assert a["error"] == pytest.approx(b["error"], abs=1e-6)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["world_size"] == 2 and config["batch_size_per_rank"] == 8
