"""TrainConfig bounds and booleans, checkpoint messages, --resume without a checkpoint (issue 16 QA)."""

import pytest
import torch

from routegraph.errors import CheckpointError, ConfigError
from routegraph.nn import build_model
from routegraph.train import TrainConfig
from routegraph.train.checkpoint import load_checkpoint, write_checkpoint
from routegraph.train.run import train_run
from tiny_graphs import tiny_chain

SPEC = "specs/tiny_chain.yaml"
HUGE = 99999999999999999999999999
BOOL_FIELDS = [n for n, f in TrainConfig.model_fields.items() if isinstance(f.default, bool)]  # oracle: the defaults' types


@pytest.mark.parametrize("name", ["seed", "threads", "batch_size", "iterations", "log_every", "eval_every",
                                  "eval_examples", "checkpoint_every"])
def test_every_integer_setting_has_an_upper_limit(name):
    with pytest.raises(ConfigError, match=rf"{name} must be an integer in \[\d+, \d+\] \(got {HUGE}\)"):
        TrainConfig(**{name: HUGE})


def test_the_largest_seed_is_accepted_by_torch():
    config = TrainConfig(seed=2**32 - 1)
    torch.Generator().manual_seed(config.seed * 1_000_003 + 10**6)  # the loop's per-iteration seed fits
    with pytest.raises(ConfigError, match="seed"):
        TrainConfig(seed=2**32)


@pytest.mark.parametrize("value", [1, 0, "yes", "no", None, 1.0])
def test_bool_settings_take_true_or_false_only(value):
    assert len(BOOL_FIELDS) == 8  # dynamic_k_cpt, sampled, talr, regularized_policy, augment, fast, cuda_graph, sync_batch_norm
    for name in BOOL_FIELDS:
        with pytest.raises(ConfigError, match=f"{name} must be true or false"):
            TrainConfig(**{name: value})
        TrainConfig(**{name: False})


def test_static_classifier_needs_the_static_method():
    with pytest.raises(ConfigError, match="static only"):
        TrainConfig(method="actor", static_classifier="2")
    TrainConfig(method="static", static_classifier="2")


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "checkpoint.pt"
    write_checkpoint(path, {"iteration": 3, "model": build_model(tiny_chain(classes=10, size=32)).state_dict(),
                            "optimizer": {}})
    return path


def test_damaged_pickle_gives_one_line_without_torch_advice(checkpoint_file, tmp_path):
    data = bytearray(checkpoint_file.read_bytes())
    data[67] ^= 0x55  # inside data.pkl (after the 46-byte zip header): an unknown pickle opcode
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(bad)
    text = str(info.value)
    assert text.startswith(f"{bad}: cannot read checkpoint: damaged or not a routegraph checkpoint (UnpicklingError")
    assert "weights_only" not in text and "Re-running" not in text and "\n" not in text and len(text) < 300


def test_damaged_bytes_later_in_the_file_are_refused(checkpoint_file, tmp_path):
    data = bytearray(checkpoint_file.read_bytes())
    data[5000] ^= 0xFF
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"^{bad}: "):
        load_checkpoint(bad)


def test_negative_iteration_names_the_file(checkpoint_file, tmp_path):
    state = load_checkpoint(checkpoint_file)
    state.pop("format")
    state["iteration"] = -5
    resigned = tmp_path / "checkpoint.pt"
    write_checkpoint(resigned, state)
    with pytest.raises(CheckpointError, match=rf"^{resigned}: .*iteration=-5: expected a non-negative iteration"):
        load_checkpoint(resigned)


def test_resume_without_a_checkpoint_says_it_starts_at_zero(tmp_path, capsys):
    config = TrainConfig(iterations=2, batch_size=8, log_every=1, eval_examples=20, k_cpt=1e-6)
    train_run(SPEC, tmp_path / "run", config, data="synthetic", data_options={"n_train": 40, "n_test": 20},
              resume=True, progress=False)
    assert "holds no checkpoint.pt yet; --resume starts the run from iteration 0" in capsys.readouterr().out
