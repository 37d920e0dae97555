"""The Ray executor on a local Ray instance started here: a 3-run sweep with a worker killed mid-run completes.

Slow (a Ray instance and its workers start in 20-60 s on a busy 2-core machine); run with ``-m slow``.
"""
import io
import json
import os
import signal
import threading
import time

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'routegraph[ray]')")

pytestmark = pytest.mark.slow


def test_ray_sweep_survives_a_killed_worker(make_experiment, tmp_path):
    from routegraph.sweep.executors import RayExecutor
    from routegraph.sweep.runner import run_sweep
    from routegraph.sweep.state import checkpoint_iteration

    budgets = {"ray": {"iterations": 300, "schedule": "small", "batch_size": 16, "checkpoint_every": 20,
                       "log_every": 10, "eval_examples": 50, "deviation": "a test budget"}}
    path = make_experiment(budgets=budgets, resources={"num_cpus": 1, "num_gpus": 0},
                           groups=[{"name": "actor", "method": "actor", "k_cpt": [0.0, 1e-8, 1e-7]}])
    out = tmp_path / "shared"
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        stream, result = io.StringIO(), {}

        def sweep():
            try:
                result["summary"] = run_sweep(path, "ray", out=out, executor=RayExecutor(max_retries=2), stream=stream)
            except BaseException as exc:  # noqa: BLE001 - reported below
                result["error"] = exc

        thread = threading.Thread(target=sweep)
        thread.start()
        killed = None
        deadline = time.time() + 240
        while killed is None and time.time() < deadline and thread.is_alive():
            for record_file in (out / ".sweep" / "runs").glob("*.json") if (out / ".sweep" / "runs").exists() else []:
                run_id = record_file.stem
                checkpoint = out / run_id / "checkpoint.pt"
                if not checkpoint.exists():
                    continue
                iteration = checkpoint_iteration(checkpoint)
                if iteration is not None and 20 <= iteration < 280:
                    pid = json.loads(record_file.read_text())["attempts"][-1]["pid"]
                    os.kill(pid, signal.SIGKILL)  # kill the Ray worker mid-run
                    killed = (run_id, iteration)
                    break
            time.sleep(0.2)
        thread.join(timeout=300)
        assert not thread.is_alive(), "the sweep did not finish"
        assert "error" not in result, result.get("error")
        assert killed is not None, "no run was caught mid-run; raise the iterations\n" + stream.getvalue()
        summary = result["summary"]
        assert summary.ok and len(summary.ran) == 3, stream.getvalue()
        index = {e["id"]: e for e in json.loads((out / "sweep.json").read_text())["runs"]}
        assert {e["status"] for e in index.values()} == {"done"}
        for run_id in index:
            assert (out / run_id / "eval.json").exists() and checkpoint_iteration(out / run_id / "checkpoint.pt") == 300
        run_id, iteration = killed
        attempts = json.loads((out / ".sweep" / "runs" / f"{run_id}.json").read_text())["attempts"]
        assert len(attempts) == 2 and attempts[0]["pid"] != attempts[1]["pid"]  # retried in a new worker
        logged = [json.loads(line)["iteration"] for line in (out / run_id / "metrics.jsonl").read_text().splitlines()]
        assert logged == sorted(set(logged)) and logged[-1] == 300  # resumed from its checkpoint, no duplicates
    finally:
        ray.shutdown()
