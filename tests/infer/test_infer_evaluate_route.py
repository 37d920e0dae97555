"""``evaluate()`` (dense, what eval.json reports; built on ``infer.dense_route``, the one argmax
router on a dense pass) agrees with ``route()`` (path-only inference).

For every spec in specs/, with random weights under which the routers really split
(``randomize``: random router heads and BN statistics), on the same images: the
count of examples at each classifier, each junction's decision histogram over
the examples that pass it, the error rate and the mean ops are the same in both.
Fixed and dynamic k_cpt (the latter at two k_cpt, through ``k_sensitive``).
"""
import pytest
import torch

from infer_helpers import REPO, k_sensitive, randomize
from routegraph.graph import compile_spec
from routegraph.infer import route
from routegraph.nn import build_model
from routegraph.nn.model import module_key
from routegraph.spec.loader import load_spec
from routegraph.train.evaluate import evaluate

SPECS = sorted(p.name for p in (REPO / "specs").glob("*.yaml"))
N = 64


def _images_and_labels(graph, seed):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(N, *graph.input_shape.dims, generator=gen)
    return images, torch.randint(0, graph.num_classes, (N,), generator=gen)


def split_evenly(model, images, k_cpt=None):
    """Shift each router's last bias by its scores' median on ``images`` (halfway between
    the two middle values, so no example sits on it), so that every sink wins for some
    examples. One dense pass gives every router's scores: no router's output feeds a node."""
    with torch.no_grad():
        for name, scores in model.eval()(images, k_cpt).scores.items():
            middle = scores.sort(0).values[len(scores) // 2 - 1:len(scores) // 2 + 1].mean(0)
            model.routers[module_key(name)].layers[-1].bias -= middle
    return model


def clear_decisions(model, images, k_cpt=None, margin=1e-3):
    """The images on which every router's best score beats its second by ``margin``: dense
    and path-only (BN-folded) outputs differ by float rounding (logits: at most 3e-6 on
    these specs, measured), so no decision may be that close to a tie.
    (In eval mode each example's scores depend on that example alone.)"""
    with torch.no_grad():
        gaps = [s.topk(2, dim=1).values.diff(dim=1).abs().squeeze(1) for s in model.eval()(images, k_cpt).scores.values()]
    return torch.stack(gaps).amin(0) > margin


def _assert_same_report(model, images, labels, k_cpt):
    record = evaluate(model, images, labels, k_cpt, batch_size=20)  # several dense batches
    routed = route(model, images, k_cpt)
    counts = torch.bincount(routed.exit, minlength=len(routed.classifiers)).tolist()
    assert [record["classifiers"][c]["count"] for c in routed.classifiers] == counts
    for name, taken in routed.decisions.items():
        histogram = torch.bincount(taken[taken >= 0], minlength=len(model.graph.junction(name).sinks)).tolist()
        assert record["junctions"][name]["histogram"] == histogram, name
    assert record["error_rate"] == pytest.approx(1 - (routed.predictions == labels).double().mean().item(), abs=1e-12)
    assert record["mean_ops"] == pytest.approx(routed.mean_ops, rel=1e-12)
    # every other field of eval.json's record, from route()'s output alone
    assert record["n"] == len(labels) and record["full_ops"] == max(p.ops for p in model.graph.paths)
    correct, classes = routed.predictions == labels, model.graph.num_classes
    for index, name in enumerate(routed.classifiers):
        here, entry = routed.exit == index, record["classifiers"][name]
        assert entry["fraction"] == pytest.approx(int(here.sum()) / len(labels), abs=1e-15), name
        assert entry["accuracy"] == (pytest.approx(correct[here].double().mean().item(), abs=1e-15)
                                     if here.any() else None), name
        assert entry["correct_by_class"] == torch.bincount(labels[here & correct], minlength=classes).tolist(), name
        assert entry["incorrect_by_class"] == torch.bincount(labels[here & ~correct], minlength=classes).tolist(), name
    return counts, routed


@pytest.mark.parametrize("spec", SPECS)
def test_evaluate_reports_the_routes_of_path_only_inference(spec):
    graph = compile_spec(load_spec(REPO / "specs" / spec))
    torch.manual_seed(0)
    images, labels = _images_and_labels(graph, seed=1)
    model = split_evenly(randomize(build_model(graph), seed=3), images)
    clear = clear_decisions(model, images)
    assert int(clear.sum()) >= 32
    counts, routed = _assert_same_report(model, images[clear], labels[clear], None)
    # not trivial: the routers split the examples, at the first junction and below it (if any)
    assert sum(c > 0 for c in counts) >= 3, counts
    split = [j for j, d in routed.decisions.items() if len(d[d >= 0].unique()) > 1]
    assert len(split) >= min(2, len(graph.junctions)), routed.decisions


def test_evaluate_matches_route_at_each_k_cpt_of_a_dynamic_network():
    graph = compile_spec(load_spec(REPO / "specs" / "tiny_chain.yaml"), k_cpt_input=True)
    torch.manual_seed(0)
    model = k_sensitive(build_model(graph), seed=1)
    images, labels = _images_and_labels(graph, seed=2)
    k_set = (0.0, 3.2e-8)
    clear = torch.stack([clear_decisions(model, images, torch.full((N,), k)) for k in k_set]).all(0)
    assert int(clear.sum()) >= 32
    seen = [_assert_same_report(model, images[clear], labels[clear], k)[0] for k in k_set]
    assert seen[0] != seen[1], "the fixture should make k_cpt matter"


def test_dense_route_in_chunks_and_with_per_example_k_cpt_matches_one_pass():
    """What evaluate relies on: chunks of ``batch_size`` rows give the one-pass result, a per-example
    k_cpt tensor gives each row its own, and a model in training mode is put back in it."""
    from routegraph.infer import dense_route

    graph = compile_spec(load_spec(REPO / "specs" / "tiny_chain.yaml"), k_cpt_input=True)
    torch.manual_seed(0)
    model = k_sensitive(build_model(graph), seed=1)
    images, _ = _images_and_labels(graph, seed=2)
    k = torch.tensor([0.0, 3.2e-8]).repeat(N // 2)
    whole = dense_route(model, images, k)
    model.train()
    chunked = dense_route(model, images, k, batch_size=7)
    assert model.training
    for field in ("predictions", "exit", "ops"):
        assert torch.equal(getattr(whole, field), getattr(chunked, field)), field
    torch.testing.assert_close(whole.logits, chunked.logits)  # other batch sizes: other float rounding
    assert all(torch.equal(whole.decisions[j], chunked.decisions[j]) for j in whole.decisions)
    at = {v: dense_route(model, images, v).exit for v in (0.0, 3.2e-8)}
    assert torch.equal(whole.exit, torch.where(k == 0, at[0.0], at[3.2e-8]))
    assert not torch.equal(at[0.0], at[3.2e-8]), "the fixture should make k_cpt matter"
