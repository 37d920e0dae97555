"""Run ids and ``config.json`` contents are stable: a config built from the same settings gets the same id
and the same JSON, byte for byte, as when ``golden/run_ids.json`` was written (before TrainConfig became a
pydantic model). An id that changed would orphan every finished run of a sweep."""
import json
from pathlib import Path

import pytest

from routegraph.runs import run_id
from routegraph.train.config import TrainConfig

CASES = json.loads((Path(__file__).parent / "golden" / "run_ids.json").read_text())
#: Settings added since the golden file was written, with the defaults that keep old ids (runs.HASHED_WHEN_CHANGED).
ADDED = {"precision": "fp32", "sampled": False, "policy": "softmax", "epsilon": 0.1, "epsilon_half_life": None,
         "critic_targets": "realised", "sampled_talr": "variance"}


@pytest.mark.parametrize("case", CASES, ids=[c["run_id"] + f"-{i}" for i, c in enumerate(CASES)])
def test_settings_give_the_recorded_run_id_and_json(case):
    config = TrainConfig.from_json(dict(case["settings"]))
    written = config.to_json()
    assert {k: written.pop(k) for k in ADDED} == ADDED
    assert json.dumps(written, sort_keys=True) == json.dumps(case["to_json"], sort_keys=True)
    assert run_id(config, "spec text", {"data": "synthetic"}) == case["run_id"]
    assert TrainConfig.from_json(config.to_json()) == config  # config.json reads back as itself
