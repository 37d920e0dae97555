"""Static baselines train and evaluate through the same loop as routed networks."""
from routegraph.train import TrainConfig
from routegraph.train.run import train_run


def test_static_run_trains_and_evaluates(tmp_path):
    config = TrainConfig(method="static", static_classifier="2", iterations=3, batch_size=16, eval_every=2)
    result = train_run("specs/tiny_chain.yaml", tmp_path, config, data_options={"n_train": 200, "n_test": 50},
                       progress=False)
    (record,) = result.evaluations
    assert result.config["static_classifier"] == "l2.exit"
    assert list(record["classifiers"]) == ["l2.exit"]
    assert record["classifiers"]["l2.exit"]["count"] == 50 and record["junctions"] == {}
    assert (tmp_path / "eval.json").stat().st_mode & 0o044  # readable by others (umask-respecting)
