"""The local executor with 2 jobs: spawned worker processes, each with cores // 2 torch threads."""
import io
import json

from routegraph.sweep.executors import LocalExecutor, available_cores, gpu_sharing_note
from routegraph.sweep.runner import run_sweep


def test_two_jobs_train_runs_in_parallel_processes(make_experiment, tmp_path):
    path = make_experiment(groups=[{"name": "actor", "method": "actor", "k_cpt": [1e-8, 1e-7]}])
    out = tmp_path / "out"
    executor = LocalExecutor(jobs=2)
    assert executor.threads == max(1, available_cores() // 2)
    stream = io.StringIO()
    summary = run_sweep(path, "test", out=out, executor=executor, stream=stream)
    assert summary.ok and len(summary.ran) == 2, stream.getvalue()
    assert "2 jobs processes ('spawn')" in stream.getvalue()
    attempts = [json.loads(p.read_text())["attempts"][-1] for p in (out / ".sweep" / "runs").glob("*.json")]
    assert len(attempts) == 2
    assert {a["threads"] for a in attempts} == {executor.threads}
    assert {a["pid"] for a in attempts}.isdisjoint({__import__("os").getpid()})  # not in this process
    assert len({a["pid"] for a in attempts}) <= 2


def test_the_executor_line_says_when_jobs_share_a_gpu():
    assert gpu_sharing_note(1, 1) == "" and gpu_sharing_note(8, 0) == ""
    note = gpu_sharing_note(8, 1)
    assert "8 jobs share 1 GPU:" in note and "nvidia-cuda-mps-control -d" in note
    assert "share 2 GPUs" in gpu_sharing_note(4, 2)
