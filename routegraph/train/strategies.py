"""Training strategies: static, actor, pragmatic critic, optimistic critic.

A strategy turns one dense forward pass into a loss; the :class:`Trainer`
loop is the same for all of them. Each strategy also owns the two tricks that
depend on routing probabilities:

- ``c_mod``: k_L2 times the squared weights of every layer and router,
  weighted by the (stopped, unless ``regularized_policy``) batch-mean
  probability of reaching it;
- TALR (``after_backward``): each owner's gradients times
  1 / sqrt(mean_batch p^2) of its region.

The math follows ``docs/training.md`` (paper §4).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..nn.model import DenseOutput, RoutedNetwork
from ..routing import (
    RegionTables, cross_entropy, decisiveness_penalty, expected_cost, inference_policy, leaf_errors, path_ops,
    region_probabilities, routed_leaf, talr_scales, training_policy, utility_targets,
)
from ..errors import ConfigError
from ..k_cpt import cost_column
from ..routing.sampled_targets import sampled_targets
from ..routing.sampling import junction_policy, policy_probabilities
from ..methods import get_method, methods
from .distributed import SINGLE


@dataclass
class StepResult:
    """A strategy's output for one batch: the loss and detached statistics."""

    loss: torch.Tensor
    region_p: torch.Tensor  # [B, R], detached
    stats: torch.Tensor  # [len(STAT_NAMES)], detached: read on the host only when logged
    talr_exponent: int = 1  # TALR scales 1 / rms(p) to this power (2: a sampled step's B / n_r)


#: What ``StepResult.stats`` holds, in order.
STAT_NAMES = ("error", "mean_ops")


class Strategy:
    """Base class. Subclasses implement :meth:`objective`; each is declared once, as a
    :class:`routegraph.methods.Method` (its name, short id, label, settings)."""

    def __init__(self, *, k_l2: float = 1e-4, talr: bool = True, eps: float = 1e-6,
                 regularized_policy: bool = False, error: str = "cross_entropy"):
        self.k_l2, self.talr, self.eps = k_l2, talr, eps
        self.regularized_policy, self.error = regularized_policy, error
        self.plan: RegionTables | None = None
        self.dist = SINGLE  # the trainer sets its context: TALR and statistics use global batch means

    # -- set-up --------------------------------------------------------
    def setup(self, model: RoutedNetwork) -> None:
        """Precompute the routing plan and which region owns each weight."""
        device = next(model.parameters()).device
        self.plan = RegionTables(model.graph).to(device)
        self._junction_region = {j.name: j.region for j in model.graph.junctions}
        regions = model.owner_regions()
        self._weights, weight_regions = [], []
        self._grad_groups: dict[int, list[torch.nn.Parameter]] = {}
        for owner, params in model.node_parameters().items():
            for p in params:
                self._grad_groups.setdefault(regions[owner], []).append(p)
                if p.dim() > 1:  # conv and linear weights; not biases or BN
                    self._weights.append(p)
                    weight_regions.append(regions[owner])
        self._weight_regions = torch.tensor(weight_regions, dtype=torch.long, device=device)
        self._path_ops = path_ops(self.plan).float()

    # -- loss ------------------------------------------------------------
    def leaf_errors(self, out: DenseOutput, labels: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` cross-entropy of every classifier (``plan.classifiers`` order): one
        batched call over the stacked logits instead of one small call per classifier
        (the same per-row arithmetic as :func:`~routegraph.routing.leaf_errors`)."""
        logits = [out.logits.get(c) for c in self.plan.classifiers]
        if any(t is None or t.dim() != 2 or t.shape != logits[0].shape for t in logits):
            return leaf_errors(self.plan, out.logits, labels, "cross_entropy")  # (or its error message)
        stacked = torch.stack(logits, 1)  # [B, L, C]
        batch, leaves = stacked.shape[:2]
        return cross_entropy(stacked.reshape(batch * leaves, -1), labels.repeat_interleave(leaves)).view(batch, leaves)

    def loss(self, out: DenseOutput, labels: torch.Tensor, k_cpt, tau: float) -> StepResult:
        loss, region_p, decisions = self.objective(out, labels, k_cpt, tau)
        weight = region_p.mean(0) if self.regularized_policy else region_p.detach().mean(0)
        loss = loss + self.k_l2 * self.model_cost(weight)
        return StepResult(loss, region_p.detach(), self.routing_stats(out, labels, decisions))

    def objective(self, out, labels, k_cpt, tau):
        raise NotImplementedError

    def model_cost(self, region_weight: torch.Tensor) -> torch.Tensor:
        """sum over weights of p(owner region) * ||W||^2 (c_mod before k_L2)."""
        if not self._weights:
            return region_weight.new_zeros(())
        squares = torch.stack(torch._foreach_norm(self._weights)).pow(2)
        return (region_weight[self._weight_regions] * squares).sum()

    def after_backward(self, result: StepResult) -> None:
        """Throughput-adjusted learning rates: scale each region's gradients.

        The scales stay on the device (no host sync, so the step can be captured in
        a CUDA graph); a region whose scale is exactly 1 is multiplied by 1, exactly."""
        if not self.talr:
            return
        scales = talr_scales(result.region_p, mean=self.dist.mean if self.dist.active else None)
        if result.talr_exponent != 1:
            scales = scales.pow(result.talr_exponent)
        for region, params in self._grad_groups.items():
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                torch._foreach_mul_(grads, scales[region])

    @torch.no_grad()
    def routing_stats(self, out, labels, decisions) -> torch.Tensor:
        """``[error, mean_ops]`` of the inference (argmax) policy on this batch, on the device."""
        leaf = (routed_leaf(self.plan, decisions) if decisions else labels.new_zeros(1)).expand(len(labels))
        logits = torch.stack([out.logits[c] for c in self.plan.classifiers], 1)
        predictions = logits.gather(1, leaf.view(-1, 1, 1).expand(-1, 1, logits.shape[-1])).squeeze(1).argmax(1)
        stats = torch.stack([(predictions != labels).float().mean(), self._path_ops[leaf].mean()])
        return self.dist.mean(stats)

    @property
    def name(self) -> str:
        """The name of the method that declares this class (routegraph.methods)."""
        cls = type(self)
        for method in methods():
            if method.build is cls or method.build == f"{cls.__module__}:{cls.__qualname__}":
                return method.name
        raise ConfigError(f"strategy class {cls.__qualname__} is not declared (routegraph.methods.register_method)")

    def to_json(self) -> dict:
        return {k: v for k, v in vars(self).items()  # (epsilon: the trainer's schedule, not a setting)
                if not k.startswith("_") and k not in ("plan", "dist") and not torch.is_tensor(v)} | {"name": self.name}


class Static(Strategy):
    """A statically-routed network trained with plain cross-entropy (plus c_mod)."""

    def objective(self, out, labels, k_cpt, tau):
        err = self.leaf_errors(out, labels)
        region_p = err.new_ones(len(labels), self.plan.num_regions)
        decisions = inference_policy(out.scores)
        return err.mean(1).mean(), region_p, decisions


class Actor(Strategy):
    """Minimise the expected cost of inference under the training policy.

    loss = mean_b [ sum_l p(l) c_err(l) + p(l) k_cpt ops(l) + k_dec sum_j sg(p(j)) ||s_j||^2 ]
    Gradients reach the routers through p.
    """

    def __init__(self, *, k_dec: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.k_dec = k_dec

    def objective(self, out, labels, k_cpt, tau):
        probs = training_policy(self.plan, out.scores, tau, self.eps)
        region_p = region_probabilities(self.plan, probs)
        err = self.leaf_errors(out, labels)
        cost = expected_cost(self.plan, region_p, err, k_cpt)
        if self.k_dec and self._junction_region:
            cost = cost + self.k_dec * decisiveness_penalty(out.scores, region_p, self.plan)
        return cost.mean(), region_p, inference_policy(out.scores)


class _Critic(Strategy):
    """Layers learn from the probability-weighted error; routers only regress
    the utility targets u_ji (held constant) with weight k_ure.

    ``policy`` is the training policy (:mod:`routegraph.routing.sampling`; its epsilon is the
    trainer's schedule, set in ``self.epsilon`` every step); :meth:`sampled_loss` is the loss of a
    sampled (path-only) step, ``critic_targets`` its targets (:mod:`routegraph.routing.sampled_targets`)."""

    kind = "pragmatic"

    def __init__(self, *, k_ure: float = 0.001, policy: str = "softmax", critic_targets: str = "realised",
                 sampled_talr: str = "variance", **kwargs):
        super().__init__(**kwargs)
        self.k_ure, self.policy, self.critic_targets, self.sampled_talr = k_ure, policy, critic_targets, sampled_talr
        self.epsilon = torch.zeros((), dtype=torch.float32)

    def policy_of(self, scores, tau):
        """Every junction's sink probabilities under the training policy (dense scores, detached)."""
        return policy_probabilities(self.plan, scores, self.policy, tau=tau, epsilon=self.epsilon, eps=self.eps)

    def junction_policy(self, junction: int, scores, path_p, tau):
        """One junction's sink probabilities for the examples that reached it (a sampled step)."""
        return junction_policy(self.plan, junction, scores, path_p, self.policy, tau=tau, epsilon=self.epsilon,
                               eps=self.eps)

    def sampled_loss(self, run, labels, k_cpt) -> StepResult:
        """The loss of a sampled step (``docs/training.md``, "Sampled critics"): the mean over the batch of
        the error at the leaf each example reached, plus ``k_ure`` times each visited junction's regression
        of the taken sink's score on its target, plus c_mod weighted by how often each region ran.
        ``region_p`` is the 0/1 matrix of the regions each example ran, so TALR's ``1 / rms(p)`` is
        ``sqrt(B / n_r)``, ``n_r`` the examples that ran region ``r`` (``sampled_talr='mean'``: ``B / n_r``)."""
        batch = len(labels)
        plan = self.plan
        err_sum, target_err = 0.0, torch.empty(batch, dtype=torch.float64, device=labels.device)
        predictions = torch.empty_like(labels)
        for leaf, rows, logits in run.leaves:
            logits, wanted = logits.float(), labels.index_select(0, rows)
            err = cross_entropy(logits, wanted)
            err_sum = err_sum + err.sum()
            predicted = logits.argmax(1)
            predictions[rows] = predicted
            target_err[rows] = (err.detach() if self.error == "cross_entropy" else (predicted != wanted).float()).double()
        k = cost_column(k_cpt, labels.device).reshape(-1).expand(batch)
        leaf_value = target_err + k * plan.region_ops[plan.leaf_regions[run.leaf_of]]
        targets = sampled_targets(run.visits, leaf_value, plan.region_ops, k, self.kind, self.critic_targets)
        regression = 0.0
        for visit, target in zip(run.visits, targets):
            taken = visit.scores.float().gather(1, visit.taken[:, None]).squeeze(1)
            regression = regression + (taken - target.float()).pow(2).sum()
        region_p = plan.leaf_below[:, run.leaf_of].t().float()  # [B, R]: 1 where the example ran r
        loss = (err_sum + self.k_ure * regression) / batch + self.k_l2 * self.model_cost(region_p.mean(0))
        stats = torch.stack([(predictions != labels).float().mean(), self._path_ops[run.leaf_of].mean()])
        return StepResult(loss, region_p, self.dist.mean(stats), 2 if self.sampled_talr == "mean" else 1)

    def objective(self, out, labels, k_cpt, tau):
        detached = {j: s.detach() for j, s in out.scores.items()}
        region_p = region_probabilities(self.plan, self.policy_of(detached, tau)).detach()
        err = self.leaf_errors(out, labels)
        layer_loss = expected_cost(self.plan, region_p, err, 0.0)
        decisions = inference_policy(detached)
        target_err = err.detach() if self.error == "cross_entropy" else leaf_errors(self.plan, out.logits, labels, "zero_one")
        targets = utility_targets(self.plan, target_err, k_cpt, self.kind, decisions)
        regression = layer_loss.new_zeros(len(labels))
        for name, scores in out.scores.items():
            reach = region_p[:, self._junction_region[name]]
            regression = regression + reach * (scores - targets[name].detach()).pow(2).sum(1)
        return (layer_loss + self.k_ure * regression).mean(), region_p, decisions


class PragmaticCritic(_Critic):
    kind = "pragmatic"


class OptimisticCritic(_Critic):
    kind = "optimistic"


def strategy_from_config(config) -> Strategy:
    """The strategy a :class:`~routegraph.train.config.TrainConfig` names, given exactly the settings
    its :class:`~routegraph.methods.Method` declares."""
    method = get_method(config.method)
    cls = method.strategy_class()
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"strategy {method.name!r}: {method.build!r} is not a routegraph.train.Strategy subclass")
    unknown = [s for s in method.takes if not hasattr(config, s)]
    if unknown:
        raise ConfigError(f"strategy {method.name!r} declares setting(s) {', '.join(unknown)}, which are not "
                          "training settings (TrainConfig fields)")
    try:
        return cls(**{s: getattr(config, s) for s in method.takes})
    except TypeError as exc:  # the class and its declaration disagree
        raise ConfigError(f"strategy {method.name!r}: {cls.__qualname__} does not take the settings it declares "
                          f"({', '.join(method.takes)}): {exc}") from None
