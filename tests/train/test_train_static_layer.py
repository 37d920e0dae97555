"""config.json of a static run names the layer index of its classifier (static-2 and static-3 differ)."""
import json

import pytest

from routegraph.graph import compile_spec
from routegraph.graph.layering import classifier_layers
from routegraph.spec import load_spec
from routegraph.train import TrainConfig
from routegraph.train.run import train_run

SPEC = "specs/tiny_chain.yaml"


@pytest.mark.parametrize("exit_number", [2, 3])
def test_config_records_the_layer_of_the_static_classifier(tmp_path, exit_number):
    config = TrainConfig(method="static", static_classifier=str(exit_number), iterations=1, batch_size=16)
    train_run(SPEC, tmp_path, config, data_options={"n_train": 64, "n_test": 16}, progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    routed = compile_spec(load_spec(SPEC))
    classifier = routed.classifiers[exit_number - 1]
    # l2.exit and l3.exit both have 2 routing decisions; their layers are 2 and 3
    assert saved["static_classifier"] == classifier
    assert saved["static_layer"] == classifier_layers(routed)[classifier] == exit_number
    compiled = json.loads((tmp_path / "compiled.json").read_text())
    assert compiled["params"]["static_layer"] == exit_number


def test_evaluation_reports_layer_index_not_decisions(tmp_path, capsys):
    """eval.json and the `evaluate` table give each classifier its layer index: the static net
    of tiny_chain's last classifier is at layer 3 (it makes no decisions; the routed path has 2)."""
    from routegraph.cli.evaluate_cmd import print_table

    config = TrainConfig(method="static", static_classifier="3", iterations=1, batch_size=16)
    result = train_run(SPEC, tmp_path, config, data_options={"n_train": 64, "n_test": 16}, progress=False)
    (record,) = result.evaluations
    assert record["classifiers"]["l3.exit"]["layer"] == 3 and record["classifiers"]["l3.exit"]["depth"] == 0
    print_table(result.evaluations, result.config)
    (row,) = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("l3.exit")]
    assert row[1] == "3"
