"""Run directories under faults: locks, resume checks, damaged files, NaN (issue 16, section 3)."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from routegraph.cli.main import main
from routegraph.errors import CheckpointError, ConfigError, DataError, TrainingError
from routegraph.train import TrainConfig
from routegraph.train.checkpoint import load_checkpoint, write_checkpoint
from routegraph.train.rundir import load_run
from routegraph.train.run import train_run

SPEC = "specs/tiny_chain.yaml"
OPTIONS = {"n_train": 64, "n_test": 32, "seed": 1}
# half-lives given, so that these runs may grow (--iterations) on resume
CONFIG = TrainConfig(method="actor", k_cpt=1e-7, iterations=2, batch_size=16, checkpoint_every=2, log_every=1,
                     lr_half_life=1.0, tau_half_life=0.5)
ENV = {**os.environ, "PYTHONPATH": os.getcwd()}


def _train(out, config=CONFIG, spec=SPEC, **kw):
    return train_run(spec, out, config, data_options=OPTIONS, progress=False, **kw)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid  # exited and reaped: no process has this pid (barring reuse within the test)


# ----------------------------------------------------------------------------- input shape
def test_a_spec_whose_input_does_not_fit_the_data_is_refused_before_training(tmp_path):
    spec = tmp_path / "small.yaml"
    spec.write_text(open(SPEC).read().replace("shape: [3, 32, 32]", "shape: [3, 16, 16]"))
    with pytest.raises(DataError, match=r"input shape is \[3, 16, 16\], but the images .* are \[3, 32, 32\]"):
        _train(tmp_path / "run", spec=spec)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


# ----------------------------------------------------------------------------- locks
def test_a_second_training_into_one_run_directory_is_refused(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(  # a real second process holding the run's lock, as a training does
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from routegraph.train.rundir import run_lock
            with run_lock({str(out)!r}):
                print("locked", flush=True)
                sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CheckpointError, match=rf"another training \(pid {holder.pid} on .*\) is writing"):
            _train(out)
        assert not (out / "checkpoint.pt").exists()
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0 and not (out / ".lock").exists()
    _train(out)  # free again


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    _train(out)
    assert (out / "checkpoint.pt").exists() and not (out / ".lock").exists()


# ----------------------------------------------------------------------------- resume checks
def test_resume_after_the_spec_was_edited_in_place_is_refused(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(open(SPEC).read())
    _train(tmp_path / "run", spec=spec)
    spec.write_text("# a comment moves every line; the computation stays\n" + open(SPEC).read())
    _train(tmp_path / "run", CONFIG.with_(iterations=3), spec=spec, resume=True)
    # not a parameter, and no weight changes shape: config.json's spec_params stay equal and the old
    # weights load, but the first router's two choices now mean the opposite
    edited = open(SPEC).read().replace("sinks: [l1.exit, l2.conv]", "sinks: [l2.conv, l1.exit]")
    assert edited != open(SPEC).read()
    spec.write_text(edited)
    with pytest.raises(CheckpointError, match="different settings.*the compiled graph"):
        _train(tmp_path / "run", spec=spec, resume=True)


def test_resume_without_config_json_and_another_k_cpt_is_refused(tmp_path):
    _train(tmp_path / "run")
    (tmp_path / "run" / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"different settings.*k_cpt \(1e-07 in the checkpoint, now 1e-06\)"):
        _train(tmp_path / "run", CONFIG.with_(k_cpt=1e-6), resume=True)
    # settings that change no computation may differ: more iterations, another log interval
    _train(tmp_path / "run", CONFIG.with_(iterations=3, log_every=2), resume=True)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["iteration"] == 3


def test_growing_a_small_schedule_run_is_refused_unless_its_half_lives_are_kept(tmp_path):
    """Under the small schedule the half-lives follow --iterations: growing the run would change
    the schedule of the rest of it. With the checkpoint's half-lives given, it grows."""
    small = CONFIG.with_(lr_half_life=None, tau_half_life=None)
    _train(tmp_path / "run", small)
    with pytest.raises(CheckpointError, match=r"resolved_schedule.*--lr-half-life 1 --tau-half-life 0.5"):
        _train(tmp_path / "run", small.with_(iterations=4), resume=True)
    _train(tmp_path / "run", small.with_(iterations=4, lr_half_life=1.0, tau_half_life=0.5), resume=True)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["iteration"] == 4


# ----------------------------------------------------------------------------- damaged files
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    _train(out)
    return out


def _copy_run(trained, tmp_path):
    import shutil

    return shutil.copytree(trained, tmp_path / "copy")


def test_a_checkpoint_of_another_spec_is_a_clean_error(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    wide = tmp_path / "wide"
    _train(wide, overrides={"width": 2})
    (run / "checkpoint.pt").write_bytes((wide / "checkpoint.pt").read_bytes())
    with pytest.raises(CheckpointError, match="does not fit this network"):
        load_run(run)
    with pytest.raises(CheckpointError, match="the compiled graph"):  # resume: caught by the fingerprint
        _train(run, resume=True)


def test_a_trainer_refuses_an_optimizer_state_of_another_network(tmp_path):
    from routegraph.data import load_task
    from routegraph.nn import build_model
    from routegraph.train import Actor, Trainer
    from tiny_graphs import tiny_chain

    model = build_model(tiny_chain(classes=10, size=32))
    trainer = Trainer(model, Actor(), load_task("synthetic", **OPTIONS), config=CONFIG)
    state = {"iteration": 1, "model": model.state_dict(), "optimizer": {"state": {}, "param_groups": []}}
    with pytest.raises(CheckpointError, match="optimizer state does not fit"):
        trainer.load_state_dict(state, "ck.pt")


def test_a_checkpoint_without_model_is_a_clean_error(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    write_checkpoint(run / "checkpoint.pt", {"iteration": 2, "optimizer": {}})
    with pytest.raises(CheckpointError, match="'model' is missing"):
        load_run(run)
    with pytest.raises(CheckpointError, match="'optimizer' is missing"):  # resuming needs the optimizer too
        write_checkpoint(run / "checkpoint.pt", {"iteration": 2, "model": {}})
        _train(run, resume=True)


def test_flipped_bytes_in_a_checkpoint_are_detected(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    weight = max(state["model"].values(), key=lambda t: t.numel())
    raw = bytearray((run / "checkpoint.pt").read_bytes())
    at = raw.find(weight.numpy().tobytes())
    assert at >= 0  # torch.save stores tensor data uncompressed
    raw[at + weight.numel() * weight.element_size() // 2] ^= 0x10
    (run / "checkpoint.pt").write_bytes(bytes(raw))
    damaged = torch.load(run / "checkpoint.pt", weights_only=True)["model"]  # torch alone loads it silently
    assert sum(not torch.equal(damaged[k], state["model"][k]) for k in damaged) == 1
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(run / "checkpoint.pt")


def test_a_torn_last_metrics_line_is_dropped_with_a_warning(tmp_path):
    _train(tmp_path / "run")
    metrics = tmp_path / "run" / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"iteration": 3, "lo')  # killed while writing a line
    with pytest.warns(UserWarning, match=r"metrics.jsonl:3: dropped a torn last line"):
        _train(tmp_path / "run", CONFIG.with_(iterations=4), resume=True)
    assert [json.loads(line)["iteration"] for line in metrics.read_text().splitlines()] == [1, 2, 3, 4]
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")  # damage that is no torn line
    with pytest.raises(CheckpointError, match=r"metrics.jsonl:2: damaged line"):
        _train(tmp_path / "run", CONFIG.with_(iterations=5), resume=True)


def test_temp_files_of_a_killed_writer_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    writer = subprocess.Popen(  # a writer killed with SIGKILL in the middle of a checkpoint write
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from routegraph.io import atomic_open
            with atomic_open({str(out / 'checkpoint.pt')!r}) as handle:
                handle.write(b"x" * 1000)
                handle.flush()
                print("writing", flush=True)
                time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True, env=ENV)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].name.startswith(".checkpoint.pt~")
    mine = out / f".compiled.json~{socket.gethostname()}~{os.getpid()}~live.tmp"  # a live writer's: kept
    other = out / ".notes.tmp"  # not our temp-name pattern: kept
    mine.write_text("")
    other.write_text("")
    _train(out)
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == sorted([mine.name, other.name])


def test_a_write_removes_the_stale_temp_files_of_its_own_target_only(tmp_path):
    from routegraph.io import atomic_write_text, remove_stale_temps

    host, dead = socket.gethostname(), _dead_pid()
    stale = {name: tmp_path / f".{name}~{host}~{dead}~abc123.tmp" for name in ("a.json", "b.json")}
    elsewhere = tmp_path / f".a.json~another-host~{dead}~abc123.tmp"  # its pid means nothing here
    for path in [*stale.values(), elsewhere]:
        path.write_text("half")
    atomic_write_text(tmp_path / "a.json", "{}")
    assert not stale["a.json"].exists() and stale["b.json"].exists() and elsewhere.exists()
    assert remove_stale_temps(tmp_path) == [stale["b.json"]] and elsewhere.exists()


def test_a_run_directory_that_cannot_be_written_is_a_clean_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CheckpointError, match="cannot write the run directory"):
        _train(tmp_path / "file" / "run")


# ----------------------------------------------------------------------------- NaN
def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from routegraph.data import BatchStream

    original = BatchStream.batch

    def poisoned(self, t):
        images, labels = original(self, t)
        return (images * float("nan"), labels) if t == 2 else (images, labels)

    monkeypatch.setattr(BatchStream, "batch", poisoned)
    out = tmp_path / "run"
    argv = ["train", SPEC, "--out", str(out), "--iterations", "4", "--batch-size", "16", "--k-cpt", "1e-7",
            "--checkpoint-every", "2", "--no-progress", *_data_flags()]
    assert main(argv) == 2
    assert "training loss is nan at iteration 3" in capsys.readouterr().err
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["iteration"] == 2 and all(torch.isfinite(t).all() for t in state["model"].values())
    assert not (out / "eval.json").exists()
    with pytest.raises(TrainingError):  # the library raises the same error
        _train(tmp_path / "again", CONFIG.with_(iterations=4))


def test_a_task_cache_with_non_finite_images_is_refused_on_load(tmp_path):
    from dataclasses import replace

    from routegraph.data import load_task
    from routegraph.data.task import load_cached_task, save_task

    task = load_task("synthetic", **OPTIONS)
    images = task.test_images.clone()
    images[3, 1, 4, 5] = float("inf")
    save_task(replace(task, test_images=images), tmp_path / "bad.pt")
    with pytest.raises(DataError, match=r"bad\.pt\): test images hold 1 non-finite value"):
        load_cached_task(tmp_path / "bad.pt")


def _data_flags():
    return [flag for k, v in OPTIONS.items() for flag in ("--data-option", f"{k}={v}")]


# ----------------------------------------------------------------------------- evaluate on another task
def test_evaluate_refuses_a_task_with_other_classes_and_keeps_eval_json(trained, tmp_path, capsys):
    run = _copy_run(trained, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config.update(data="mnist", class_names=[f"digit{d}" for d in range(10)])  # as if trained on another task
    (run / "config.json").write_text(json.dumps(config))
    before = (run / "eval.json").read_text()
    assert main(["evaluate", str(run), "--data", "synthetic", *_data_flags()]) == 2
    assert "was trained on 'mnist' with classes [digit0" in capsys.readouterr().err
    assert (run / "eval.json").read_text() == before
