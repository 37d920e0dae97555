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


def test_periodic_evaluation_uses_a_fixed_random_sample_of_the_validation_split(tmp_path):
    import json

    import torch

    from routegraph.data import load_task
    from routegraph.train.run import validation_indices

    config = TrainConfig(method="static", static_classifier="2", iterations=2, batch_size=16, eval_every=2,
                         eval_examples=20)
    train_run("specs/tiny_chain.yaml", tmp_path, config, data_options={"n_train": 400, "n_test": 50}, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    (record,) = [line["eval"] for line in lines if "eval" in line]
    seen = sum(torch.tensor(c["correct_by_class"]) + torch.tensor(c["incorrect_by_class"])
               for c in record["classifiers"].values())
    # oracle: the validation slice (10% of train: 40 images), then a fixed sample of 20 of them
    labels = load_task("synthetic", n_train=400, n_test=50).with_validation(0.1).labels("val")
    sample = validation_indices(40, 20)
    assert record["n"] == 20 and record["split"] == "validation"
    assert seen.tolist() == torch.bincount(labels[sample], minlength=len(seen)).tolist()
    assert not torch.equal(sample, torch.arange(20))  # not the head of the set


def test_validation_sample_is_fixed_and_represents_a_sorted_set():
    import torch

    from routegraph.train.run import validation_indices

    labels = torch.arange(10).repeat_interleave(1000)  # sorted, like the hybrid task's digits-then-objects
    sample = validation_indices(len(labels), 2000)
    assert torch.equal(sample, validation_indices(len(labels), 2000))
    assert torch.equal(sample, sample.unique())  # sorted, no repeats
    shares = torch.bincount(labels[sample], minlength=10) / 2000
    assert shares.min() > 0.07 and shares.max() < 0.13
    assert torch.equal(validation_indices(50, 0), torch.arange(50)) and len(validation_indices(50, 80)) == 50
