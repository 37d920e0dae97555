"""Budget targeting: the k_cpt at which a dynamic-k_cpt network meets an ops budget.

A dynamic-k_cpt network's routers read ``k_cpt_scale * k_cpt`` (1e7 by default); raising k_cpt makes
examples exit earlier, so the mean op count falls (not strictly: it is a step
function of k_cpt on a finite set, and nothing forces it to be monotone).

Only the routers depend on k_cpt. :class:`RouterTable` therefore evaluates
the network *once* on the held-out images, densely, and keeps what every
router reads and every classifier's logits. Scoring one k_cpt then runs only
the routers (a few small matrix products) and follows the region tree, so a
search costs milliseconds per step. :func:`calibrate`

1. scores the network's training k_cpt set and 0;
2. brackets the budget between two neighbouring values and bisects in log
   space (``log k``), keeping the smallest k_cpt found whose mean ops meet the
   budget -- the most accurate choice if accuracy falls with k_cpt;
3. reports ops and accuracy there, and flags any non-monotone step it saw.

:func:`calibrate_run` is the whole procedure behind ``routegraph calibrate``:
it picks k_cpt on one half of the images and verifies the pick with the real
path-only executor on the other half. The verification decides: a pick that
meets the budget on the calibration half but not on the verification half is
reported as not met.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch

from ..checks import POSITIVE, POSITIVE_INT, check_k_cpt
from ..errors import ConfigError
from ..nn.model import RoutedNetwork
from ..nn.precision import autocast, resolve
from .plan import ExecutionPlan, plan_for


@dataclass
class RouterTable:
    """What the routers read and what the classifiers say, for every example (dense, once)."""

    plan: ExecutionPlan
    router_inputs: dict[int, torch.Tensor]  # junction index -> [N, ...]
    logits: list[torch.Tensor]  # per classifier: [N, classes]
    n: int


@torch.inference_mode()
def router_table(model: RoutedNetwork, images: torch.Tensor, batch_size: int = 500,
                 precision: str = "fp32") -> RouterTable:
    """Evaluate every node densely on ``images`` (in ``precision``: fp32 or bf16) and keep the routers'
    inputs and all logits (in fp32: the routers then run on them in fp32)."""
    was_training = model.training
    model.eval()
    try:
        plan = plan_for(model)
        graph = plan.graph
        inputs: dict[int, list] = {r.junction: [] for r in plan.regions if r.junction >= 0}
        logits: list[list] = [[] for _ in graph.paths]
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device=plan.device, dtype=plan.dtype)
            values = {graph.input_name: x}
            with autocast(precision, plan.device.type):
                for region in plan.regions:  # parents before children: every input is ready
                    for fn, ins, out, _ in region.steps:  # no releases: sibling regions share inputs
                        values[out] = fn(*[values[i] for i in ins])
                    if region.junction >= 0:
                        inputs[region.junction].append(_float(values[region.reads]))
                    else:
                        logits[region.leaf].append(values[region.output].float())
        cat = lambda xs: torch.cat(xs) if not isinstance(xs[0], tuple) else tuple(torch.cat(t) for t in zip(*xs))  # noqa: E731
        return RouterTable(plan, {j: cat(v) for j, v in inputs.items() if v}, [torch.cat(v) for v in logits if v]
                           if len(images) else [], len(images))
    finally:
        model.train(was_training)


@torch.inference_mode()
def route_table(table: RouterTable, k_cpt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(exit, predictions)`` of every example at ``k_cpt``, routers only."""
    plan = table.plan
    kcol = plan.router_input(k_cpt, table.n) if plan.k_cpt_input else None
    decisions = {j: plan.regions[_region_of(plan, j)].router(x, kcol).argmax(1) for j, x in table.router_inputs.items()}
    region = torch.zeros(table.n, dtype=torch.long)
    leaf_of = torch.full((len(plan.regions),), -1, dtype=torch.long)
    for r in plan.regions:
        if r.leaf >= 0:
            leaf_of[r.id] = r.leaf
    for r in plan.regions:  # parents before children
        if r.junction < 0:
            continue
        here = region == r.id
        region[here] = torch.tensor(r.children)[decisions[r.junction][here]]
    exit_ = leaf_of[region]
    stacked = torch.stack([lg.argmax(1) for lg in table.logits], 1)
    return exit_, stacked.gather(1, exit_[:, None]).squeeze(1)


def _region_of(plan: ExecutionPlan, junction: int) -> int:
    for r in plan.regions:
        if r.junction == junction:
            return r.id
    raise KeyError(junction)


@dataclass
class Point:
    k_cpt: float
    mean_ops: float
    accuracy: float | None


@dataclass
class Calibration:
    budget_ops: float
    k_cpt: float | None           # the pick (None: the budget cannot be met in the searched range)
    mean_ops: float               # at the pick (or at the cheapest k_cpt searched, if not met)
    accuracy: float | None
    met: bool
    points: list[Point] = field(default_factory=list)  # every k_cpt scored, sorted by k_cpt
    non_monotone: list[tuple[float, float]] = field(default_factory=list)  # (k_a, k_b): ops rose from a to b
    note: str = ""


def score(table: RouterTable, labels: torch.Tensor | None, k_cpt: float) -> Point:
    exit_, predictions = route_table(table, k_cpt)
    ops = table.plan.path_ops[exit_].double()
    return Point(float(k_cpt), ops.mean().item() if len(ops) else 0.0, _accuracy(predictions, labels))


def calibrate(table: RouterTable, labels: torch.Tensor | None, budget_ops: float, k_set, *,
              steps: int = 40, rel_tol: float = 1e-3) -> Calibration:
    """Pick the smallest k_cpt in ``[0, max(k_set)]`` whose mean ops on ``table`` meet ``budget_ops``."""
    if not table.plan.k_cpt_input:
        raise ConfigError("this network's routers do not read k_cpt (fixed k_cpt): its op count is fixed")
    POSITIVE.check(budget_ops, "budget_ops")
    positive = sorted({k for k in (check_k_cpt(k, "k_cpt_set values") for k in k_set) if k > 0})
    if not positive:
        raise ConfigError(f"the run's k_cpt set {list(k_set)} has no positive value to search between")
    points: dict[float, Point] = {}

    def at(k: float) -> Point:
        if k not in points:
            points[k] = score(table, labels, k)
        return points[k]

    for k in [0.0] + positive:
        at(k)
    grid = [0.0] + positive
    feasible = [k for k in grid if at(k).mean_ops <= budget_ops]
    if not feasible:
        cheapest = min(points.values(), key=lambda p: p.mean_ops)
        return _finish(budget_ops, None, cheapest, False, points,
                       f"even the largest k_cpt trained on ({positive[-1]:g}) spends {at(positive[-1]).mean_ops:.4g} ops "
                       f"on average, above the budget; the network cannot go lower without extrapolating")
    if at(0.0).mean_ops <= budget_ops:
        return _finish(budget_ops, 0.0, at(0.0), True, points, "the budget is met at k_cpt = 0 (no pressure to save ops)")
    # bracket: the first grid value that meets the budget, and the one before it
    hi = next(k for k in grid if at(k).mean_ops <= budget_ops)
    lo = grid[grid.index(hi) - 1]
    if lo == 0.0:  # bisect in log space: stand in for 0 with a value whose router input is negligible
        lo = hi / 1e4
        if at(lo).mean_ops <= budget_ops:
            return _finish(budget_ops, lo, at(lo), True, points, "met at a k_cpt indistinguishable from 0")
    for _ in range(steps):
        if hi / lo - 1 <= rel_tol:
            break
        mid = math.sqrt(lo * hi)
        if at(mid).mean_ops <= budget_ops:
            hi = mid
        else:
            lo = mid
    return _finish(budget_ops, hi, at(hi), True, points, "")


def _finish(budget, k, point: Point, met: bool, points: dict, note: str) -> Calibration:
    ordered = sorted(points.values(), key=lambda p: p.k_cpt)
    rising = [(a.k_cpt, b.k_cpt) for a, b in zip(ordered, ordered[1:]) if b.mean_ops > a.mean_ops]
    return Calibration(budget, k, point.mean_ops, point.accuracy, met, ordered, rising, note)


@dataclass
class Verification:
    """The pick run path-only on images the search did not see."""

    n: int
    mean_ops: float
    accuracy: float | None
    met: bool


@dataclass
class BudgetResult:
    """Outcome of :func:`calibrate_run`; ``met`` is the verdict (the verification's, when there is one)."""

    budget_ops: float
    full_ops: int
    dynamic_k_cpt: bool
    k_cpt: float | None  # the pick (None: fixed k_cpt, or no k_cpt meets the budget)
    met: bool
    mean_ops: float  # fixed k_cpt: on all images; dynamic: on the calibration half
    accuracy: float | None
    n: int
    seconds: float  # search (dynamic) or routing (fixed)
    calibration: Calibration | None = None
    verification: Verification | None = None

    @property
    def overshoot(self) -> float:
        """How far the verification half's mean ops exceed the budget (0.013: by 1.3%)."""
        return 0.0 if self.verification is None else self.verification.mean_ops / self.budget_ops - 1

    def to_json(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k not in ("calibration", "verification", "seconds")}
        if self.calibration is not None:
            data["calibration"] = {"n": self.n, "points": [asdict(p) for p in self.calibration.points],
                                   "non_monotone": self.calibration.non_monotone}
        if self.verification is not None:
            data["verification"] = asdict(self.verification)
        return data


def _float(value):
    """A router input (a tensor, or a tuple of them for multi-input routers) in fp32."""
    return tuple(v.float() for v in value) if isinstance(value, tuple) else value.float()


def calibrate_run(model: RoutedNetwork, images: torch.Tensor, labels: torch.Tensor | None, budget_ops: float,
                  k_set, *, batch_size: int = 500, verify_on: tuple | None = None,
                  precision: str = "fp32") -> BudgetResult:
    """Pick k_cpt for ``budget_ops`` on ``images`` and verify it path-only on ``verify_on = (images, labels)``.

    A fixed-k_cpt network cannot be calibrated: its op count on ``images`` is
    reported instead (``verify_on`` unused). The result is met only if the
    verification meets the budget too."""
    from .executor import route

    POSITIVE.check(budget_ops, "budget_ops")
    POSITIVE_INT.check(batch_size, "batch_size")
    graph = model.graph
    full = max(p.ops for p in graph.paths)
    start = time.perf_counter()
    if not graph.k_cpt_input:
        out = route(model, images, batch_size=batch_size, precision=precision)
        return BudgetResult(budget_ops, full, False, None, out.mean_ops <= budget_ops, out.mean_ops,
                            _accuracy(out.predictions, labels), len(images), time.perf_counter() - start)
    if verify_on is None:
        raise ConfigError("calibrate_run: pass verify_on=(images, labels) held out from the calibration images")
    precision = resolve(precision, model, min(batch_size, len(images)), lambda p: router_table(
        model, images[:batch_size], batch_size=batch_size, precision=p), "calibrate")[0]
    found = calibrate(router_table(model, images, batch_size=batch_size, precision=precision), labels, budget_ops, k_set)
    seconds = time.perf_counter() - start
    result = BudgetResult(budget_ops, full, True, found.k_cpt, found.met, found.mean_ops, found.accuracy,
                          len(images), seconds, calibration=found)
    if found.met:
        ver_images, ver_labels = verify_on
        check = route(model, ver_images, found.k_cpt, batch_size=batch_size, precision=precision)
        result.verification = Verification(len(ver_images), check.mean_ops, _accuracy(check.predictions, ver_labels),
                                           check.mean_ops <= budget_ops)
        result.met = result.verification.met
    return result


def split_halves(n: int, seed: int = 0, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a seeded random calibration half and verification half of ``n`` examples (at most ``limit``).

    Random, not a prefix: test splits are often sorted by source or class."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit]
    if len(order) < 2:
        raise ConfigError(f"{len(order)} image(s) to calibrate on; need at least 2")
    return order[: len(order) // 2], order[len(order) // 2:]


def _accuracy(predictions: torch.Tensor, labels: torch.Tensor | None) -> float | None:
    if labels is None or not len(labels):
        return None
    return (predictions == labels).double().mean().item()
