"""Budget targeting for dynamic-k_cpt networks (routers-only search, then verified)."""
import pytest
import torch

from infer_helpers import k_sensitive, tiny_chain_graph
from routegraph.errors import ConfigError
from routegraph.infer import route
from routegraph.infer.calibrate import calibrate, route_table, router_table, score
from routegraph.nn import build_model

K_SET = [0.0, 1e-9, 2e-9, 4e-9, 8e-9, 1.6e-8, 3.2e-8, 6.4e-8]


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = k_sensitive(build_model(tiny_chain_graph(k_cpt_input=True)), seed=1)
    images = torch.rand(160, 3, 32, 32)
    labels = torch.randint(0, 10, (160,))
    return model, images, labels, router_table(model, images, batch_size=64)


def test_router_table_matches_path_only_execution(setup):
    model, images, labels, table = setup
    for k in (0.0, 4e-9, 3e-8, 6.4e-8):
        exit_, predictions = route_table(table, k)
        out = route(model, images, k)
        assert torch.equal(exit_, out.exit)
        assert torch.equal(predictions, out.predictions)


def test_mean_ops_fall_with_k_cpt(setup):
    _, _, labels, table = setup
    ops = [score(table, labels, k).mean_ops for k in K_SET]
    assert ops == sorted(ops, reverse=True)
    assert ops[0] > ops[-1], "the fixture should make k_cpt matter"


def test_calibrate_picks_the_smallest_k_meeting_the_budget(setup):
    model, images, labels, table = setup
    top, bottom = score(table, labels, 0.0).mean_ops, score(table, labels, K_SET[-1]).mean_ops
    budget = (top + bottom) / 2
    found = calibrate(table, labels, budget, K_SET, rel_tol=1e-4)
    assert found.met and 0 < found.k_cpt <= K_SET[-1]
    assert found.mean_ops <= budget
    assert score(table, labels, found.k_cpt / (1 + 1e-3)).mean_ops > budget  # minimal, to the tolerance
    assert route(model, images, found.k_cpt).mean_ops == pytest.approx(found.mean_ops)
    assert found.non_monotone == []
    assert [p.k_cpt for p in found.points] == sorted(p.k_cpt for p in found.points)


def test_calibrate_edge_cases(setup):
    model, _, labels, table = setup
    top, bottom = score(table, labels, 0.0).mean_ops, score(table, labels, K_SET[-1]).mean_ops
    loose = calibrate(table, labels, top * 2, K_SET)
    assert loose.met and loose.k_cpt == 0.0
    impossible = calibrate(table, labels, bottom / 2, K_SET)
    assert not impossible.met and impossible.k_cpt is None and "cannot" in impossible.note
    with pytest.raises(ConfigError):
        calibrate(table, labels, -1, K_SET)
    fixed = build_model(tiny_chain_graph()).eval()
    with pytest.raises(ConfigError, match="fixed"):
        calibrate(router_table(fixed, torch.rand(4, 3, 32, 32)), None, 1e5, K_SET)


def test_calibrate_run_is_not_met_when_the_verification_exceeds_the_budget(setup):
    """By construction: verify on images that, at the picked k_cpt, all take the deepest path."""
    from routegraph.infer.calibrate import calibrate_run

    model, images, labels, table = setup
    top, bottom = score(table, labels, 0.0).mean_ops, score(table, labels, K_SET[-1]).mean_ops
    budget = (top + bottom) / 2
    cal = calibrate_run(model, images, labels, budget, K_SET, verify_on=(images, labels))
    # same images: the path-only verification reproduces the routers-only search exactly
    assert cal.calibration.met and cal.met and cal.verification.met
    assert cal.verification.mean_ops == pytest.approx(cal.mean_ops)
    pool = torch.rand(1000, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    deepest = route(model, pool, cal.k_cpt).exit == len(model.graph.paths) - 1
    # about 2% of random images go all the way here (14 of 1000 measured); one is enough for the test
    assert deepest.sum() >= 1, "the fixture should send some images to the deepest exit"
    hard = pool[deepest]
    result = calibrate_run(model, images, labels, budget, K_SET, verify_on=(hard, None))
    assert result.k_cpt == cal.k_cpt and result.calibration.met  # the search half alone would say met
    assert result.verification.mean_ops == max(p.ops for p in model.graph.paths) > budget
    assert not result.verification.met and not result.met
    data = result.to_json()
    assert data["met"] is False and data["verification"]["met"] is False and result.overshoot > 0


def test_bad_k_cpt_and_budgets_are_refused(setup):
    from routegraph.infer.calibrate import calibrate_run

    model, images, labels, table = setup
    for bad in (float("nan"), float("inf"), -1e-9):
        with pytest.raises(ConfigError, match="k_cpt"):
            route(model, images[:4], bad)
        with pytest.raises(ConfigError, match="k_cpt_set"):
            calibrate(table, labels, 1e5, [0.0, bad])
    with pytest.raises(ConfigError, match="k_cpt"):
        route(model, images[:4], torch.tensor([0.0, 1e-9, float("nan"), 0.0]))
    with pytest.raises(ConfigError, match="budget_ops"):
        calibrate_run(model, images, labels, float("nan"), K_SET, verify_on=(images, labels))
    with pytest.raises(ConfigError, match="batch_size"):
        route(model, images[:4], 0.0, batch_size=0)
