"""Training settings: one frozen pydantic model, JSON-serialisable, every value overridable.

Each field is declared once, with its help text, its bound (:class:`~routegraph.checks.Bound`) or
choices, and its flag; the CLI's flags and ``--help``, the validation, the JSON Schema and the
sweeps' checks are derived from it (:func:`settings`). Torch-free.

Defaults are the paper's / reference code's (see docs/training.md). A run shorter than
``PAPER_MIN_ITERATIONS`` with ``schedule='auto'`` uses the small-budget schedule instead (a
documented deviation: the paper's learning rate of 0.1 stalls for the first ~750 iterations, so
short runs start at 0.02 with a half-life of half the run).

>>> TrainConfig(method="actor", k_cpt=4e-9).resolved()["tau"]
1.0
>>> TrainConfig(threads=-1)
Traceback (most recent call last):
routegraph.errors.ConfigError: threads must be an integer in [0, 4096] (got -1)
>>> [s.flag for s in settings()][:3]
['--strategy', '--iterations', '--batch-size']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from ..checks import (
    CRITIC_TARGETS, K_CPT, SAMPLED_TALR, NON_NEGATIVE, NON_NEGATIVE_INT, POLICIES, POSITIVE, POSITIVE_INT, PRECISIONS, SEED, THREADS,
    Bound,
)
from ..errors import ConfigError, got
from ..k_cpt import K_CPT_INPUT_SCALE
from ..methods import get_method, method_names, methods

K_CPT_SET = (0.0, 1e-9, 2e-9, 4e-9, 8e-9, 1.6e-8, 3.2e-8, 6.4e-8)
PAPER_MIN_ITERATIONS = 40_000
Number = Union[int, float]  # an int stays an int, so config.json and run ids are unchanged
UNIT = Bound(float, 0, hi=1)


def _help(text: str, *, flag: str | None = None, optional: bool = False) -> dict:
    """A field's description (its --help) and, where they differ from the defaults, its flag and whether
    None means "derived" (from the schedule or the strategy)."""
    extra = {k: v for k, v in (("flag", flag), ("optional", optional)) if v}
    return {"description": text, **({"json_schema_extra": extra} if extra else {})}


class TrainConfig(BaseModel):
    """Every training setting; invalid values are one :class:`~routegraph.errors.ConfigError`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    method: str = Field("actor", **_help("the training strategy", flag="--strategy"))
    iterations: Annotated[int, POSITIVE_INT] = Field(80_000, **_help("training steps"))
    batch_size: Annotated[int, POSITIVE_INT] = Field(128, **_help(
        "images per step (under torchrun: the global batch)"))
    seed: Annotated[int, SEED] = Field(0, **_help(
        "seed of the initial weights, the batch order, the augmentation and the k_cpt draws"))
    # optimiser and schedules
    schedule: Literal["auto", "paper", "small"] = Field("auto", **_help(
        "auto (paper schedule from 40k iterations, else the small-budget one) | paper | small"))
    lr: Annotated[Optional[Number], POSITIVE] = Field(None, **_help(
        "initial SGD learning rate (default: from --schedule; paper 0.1, small 0.02)", optional=True))
    lr_half_life: Annotated[Optional[Number], POSITIVE] = Field(None, **_help(
        "iterations in which the learning rate halves (default: from --schedule; paper 10,000, small half the run)",
        optional=True))
    momentum: Annotated[Number, UNIT] = Field(0.9, **_help("SGD momentum"))
    tau: Annotated[Optional[Number], POSITIVE] = Field(None, **_help(
        "initial temperature of the training policy softmax(s / tau) (default: the strategy's; 1.0 for the "
        "actor, 0.1 for critics)", optional=True))
    tau_half_life: Annotated[Optional[Number], POSITIVE] = Field(None, **_help(
        "iterations in which tau halves (default: from --schedule; paper 20,000, small a quarter of the run)",
        optional=True))
    # routing costs
    k_cpt: Annotated[Number, K_CPT] = Field(0.0, **_help("cost per multiply-accumulate"))
    dynamic_k_cpt: bool = Field(False, **_help(
        "routers read k_cpt; train on k_cpt drawn from --k-cpt-set"))
    k_cpt_set: tuple[Number, ...] = Field(K_CPT_SET, **_help(
        "k_cpt values a dynamic-k_cpt run draws from, and the ones it is evaluated at"))
    k_cpt_input_scale: Annotated[Number, POSITIVE] = Field(K_CPT_INPUT_SCALE, **_help(
        "dynamic k_cpt: the routers read this times k_cpt as their extra input (the reference's 1e7; larger "
        "values make small-budget routers follow k_cpt more)"))
    eps: Annotated[Number, UNIT] = Field(1e-6, **_help(
        "exploration floor of the training policy: every path keeps a probability of about eps times its share "
        "of the leaves (docs/training.md)"))
    error: Literal["cross_entropy", "zero_one"] = Field("cross_entropy", **_help(
        "error used in critic targets: cross_entropy | zero_one"))
    # regularisation and optimisation tricks
    k_dec: Annotated[Number, NON_NEGATIVE] = Field(0.01, **_help(
        "weight of the router-score decay k_dec * sum_j sg(p(j)) ||s_j||^2 (actor)"))
    k_ure: Annotated[Number, NON_NEGATIVE] = Field(0.001, **_help(
        "weight of the critics' utility-regression loss"))
    # critics: sampled (path-only) training and the training policy (docs/training.md, "Sampled critics")
    sampled: bool = Field(False, **_help(
        "critics: train path-only: each example runs only the path it draws from the training policy, and the "
        "routers regress the costs evaluated on it (less memory and time than the dense step)"))
    policy: Literal[POLICIES] = Field("softmax", **_help(  # type: ignore[valid-type]
        "critics' training policy: softmax (the paper's softmax(s / tau), floored by --eps) | epsilon_greedy (the "
        "argmax sink, else with probability --epsilon a uniform one) | argmax_floor (the argmax sink; every path "
        "keeps --epsilon times its share of the leaves)"))
    epsilon: Annotated[Number, UNIT] = Field(0.1, **_help(
        "epsilon_greedy / argmax_floor: initial exploration weight epsilon"))
    epsilon_half_life: Annotated[Optional[Number], POSITIVE] = Field(None, **_help(
        "iterations in which epsilon halves (default: tau's half-life)", optional=True))
    critic_targets: Literal[CRITIC_TARGETS] = Field("realised", **_help(  # type: ignore[valid-type]
        "sampled critics: realised (each taken sink's target is the cost its path paid) | bootstrapped (sinks not "
        "taken below count at the critic's own estimates, as the pragmatic / optimistic cost defines)"))
    sampled_talr: Literal[SAMPLED_TALR] = Field("variance", **_help(  # type: ignore[valid-type]
        "sampled critics' TALR: variance (sqrt(B / n_r): a region's update variance does not depend on how many "
        "of the B examples ran it, as in the dense step) | mean (B / n_r: each region's mean gradient over the "
        "n_r examples that ran it)"))
    k_l2: Annotated[Number, NON_NEGATIVE] = Field(1e-4, **_help(
        "weight of the path-weighted L2 penalty c_mod"))
    talr: bool = Field(True, **_help("throughput-adjusted learning rates"))
    regularized_policy: bool = Field(False, **_help(
        "let c_mod's gradient reach the routing policy"))
    # static baselines
    static_classifier: Optional[Union[str, int]] = Field(None, **_help(
        "for --strategy static: the classifier (name, or 1-based index in path order) the baseline ends at",
        flag="--static-exit"))
    # bookkeeping
    log_every: Annotated[int, POSITIVE_INT] = Field(50, **_help(
        "write a line to metrics.jsonl every this many iterations"))
    eval_every: Annotated[int, NON_NEGATIVE_INT] = Field(0, **_help(
        "evaluate on the validation images every this many iterations (0: never; the test split is evaluated "
        "once, at the end)"))
    eval_examples: Annotated[int, NON_NEGATIVE_INT] = Field(2000, **_help(
        "periodic evaluation: a fixed random sample of this many validation images (0: all)"))
    val_fraction: Annotated[Number, UNIT] = Field(0.1, **_help(
        "share of the training images held out as the validation split (stratified, fixed seed; not trained "
        "on) when the task has no val split of its own; 0: none"))
    val_max: Annotated[int, NON_NEGATIVE_INT] = Field(5000, **_help(
        "at most this many held-out validation images (0: no cap)"))
    checkpoint_every: Annotated[int, NON_NEGATIVE_INT] = Field(500, **_help(
        "save checkpoint.pt every this many iterations, and at the end (0: only at the end)"))
    augment: bool = Field(True, **_help(
        "augment the training images: random shifts (±4 px at 32 px, scaled with the image) with mean-colour "
        "fill, and flips of flip-symmetric classes (--no-augment: the images as they are)"))
    threads: Annotated[int, THREADS] = Field(0, **_help(
        "torch CPU threads (0: torch's choice, one per core)"))
    device: str = Field("auto", **_help(
        "auto (a CUDA GPU if there is one, else the CPU) | cpu | cuda | cuda:N"))
    precision: Literal[PRECISIONS] = Field("fp32", **_help(  # type: ignore[valid-type]
        "fp32 | bf16 (autocast; losses, routing and BN statistics in fp32) | auto (bf16 where measured faster on "
        "this machine; never without native bf16) (docs/training.md)"))
    fast: bool = Field(True, **_help("fast mode (same results as plain mode)"))
    cuda_graph: bool = Field(True, **_help(
        "on a GPU, capture the training step once as a CUDA graph and replay it (same results; one process only)"))
    # torchrun (multi-process) training
    dist_backend: Literal["auto", "gloo", "nccl"] = Field("auto", **_help(
        "torchrun process-group backend: auto (nccl with one GPU per process, else gloo) | gloo | nccl"))
    sync_batch_norm: bool = Field(True, **_help(
        "under torchrun, batch-norm statistics over the global batch (--no-sync-batch-norm: per process)"))

    def __init__(self, **data):
        # checked before pydantic sees the values, so every problem is one ConfigError in our words
        # (pydantic would wrap a ConfigError raised in a validator into its own ValidationError)
        problems = _problems(data)
        if problems:
            raise ConfigError("; ".join(problems))
        super().__init__(**data)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs) -> "TrainConfig":
        """As ``TrainConfig(**obj)``: the same checks and the same errors."""
        return obj if isinstance(obj, cls) else cls(**dict(obj))

    # -- resolved schedule -------------------------------------------------
    @property
    def paper_schedule(self) -> bool:
        return self.schedule == "paper" or (self.schedule == "auto" and self.iterations >= PAPER_MIN_ITERATIONS)

    def resolved(self) -> dict[str, float]:
        """The schedule actually used: explicit values win over the preset."""
        tau = get_method(self.method).tau
        if self.paper_schedule:
            preset = {"lr": 0.1, "lr_half_life": 10_000, "tau": tau, "tau_half_life": 20_000}
        else:
            preset = {"lr": 0.02, "lr_half_life": self.iterations / 2, "tau": tau, "tau_half_life": self.iterations / 4}
        return {k: (getattr(self, k) if getattr(self, k) is not None else v) for k, v in preset.items()}

    def lr_at(self, iteration: int) -> float:
        s = self.resolved()
        return s["lr"] * 0.5 ** (iteration / s["lr_half_life"])

    def tau_at(self, iteration: int) -> float:
        s = self.resolved()
        return s["tau"] * 0.5 ** (iteration / s["tau_half_life"])

    def epsilon_at(self, iteration: int) -> float:
        """The exploration weight of the epsilon_greedy and argmax_floor policies at ``iteration``."""
        half_life = self.epsilon_half_life or self.resolved()["tau_half_life"]
        return self.epsilon * 0.5 ** (iteration / half_life)

    # -- serialisation -----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data["k_cpt_set"] = list(self.k_cpt_set)
        data["resolved_schedule"] = self.resolved()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        """The config ``config.json`` (or any mapping) holds; keys that are not settings are skipped."""
        return cls(**{k: v for k, v in data.items() if k in cls.model_fields})

    def with_(self, **changes) -> "TrainConfig":
        """A copy with ``changes``, validated as a new config is."""
        return type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields}, **changes})


@dataclass(frozen=True)
class Setting:
    """One training setting as the CLI, the docs and the sweeps see it (derived from TrainConfig)."""

    name: str
    default: Any
    help: str
    flag: str
    bound: Bound | None = None
    choices: tuple[str, ...] | None = None
    optional: bool = False  # None means "from the schedule or the strategy"

    @property
    def kind(self) -> str:
        """``bool``, ``numbers`` (a list of k_cpt values), ``number``, ``choice`` or ``text``."""
        if isinstance(self.default, bool):
            return "bool"
        if isinstance(self.default, tuple):
            return "numbers"
        return "number" if self.bound else "choice" if self.choices else "text"


def settings() -> list[Setting]:
    """Every :class:`TrainConfig` field as a :class:`Setting`, in declaration order."""
    out = []
    for name, field in TrainConfig.model_fields.items():
        extra = field.json_schema_extra or {}
        bound = next((m for m in field.metadata if isinstance(m, Bound)), None)
        choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else None
        if name == "method":
            choices = method_names()
        out.append(Setting(name, field.default, field.description, extra.get("flag") or "--" + name.replace("_", "-"),
                           bound, choices, bool(extra.get("optional"))))
    return out


def _choices(name: str, value, choices, one_of: bool = False) -> str | None:
    """None if ``value`` is one of ``choices``, else 'NAME must be a, b or c, got VALUE'."""
    if isinstance(value, str) and value in choices:
        return None
    words = f"one of {', '.join(choices)}" if one_of else f"{', '.join(choices[:-1])} or {choices[-1]}"
    return f"{name} must be {words}, got {value!r}"


def _problems(data: dict) -> list[str]:
    """What is wrong with the settings ``data`` (defaults filled in), in words; [] if nothing."""
    fields = TrainConfig.model_fields
    unknown = sorted(set(data) - set(fields))
    if unknown:
        return [f"unknown training setting(s): {', '.join(unknown)}"]
    v = {name: data.get(name, field.default) for name, field in fields.items()}
    problems = []
    names = method_names()
    method = get_method(v["method"]) if v["method"] in names else None
    if method is None:
        problems.append(_choices("method", v["method"], names, one_of=True))
    for name in ("schedule", "error", "precision", "policy", "critic_targets", "sampled_talr"):
        problem = _choices(name, v[name], get_args(fields[name].annotation))
        if problem:
            problems.append(problem)
    if v["error"] == "zero_one" and method is not None and not method.zero_one_error:
        # it would be silently ignored: the 0/1 error has no gradient, only critic targets use it
        problems.append(f"error zero_one applies to critic targets only, not to method {v['method']!r}")
    if v["static_classifier"] is not None and method is not None and not method.fixed_path:
        # it would be silently ignored: only a static baseline ends at a chosen exit
        problems.append(f"static_classifier (--static-exit) applies to method static only, "
                        f"not to method {v['method']!r}")
    if method is not None and not method.sampling:
        # each would be silently ignored: an actor learns through the policy's probabilities
        if v["sampled"] is True:
            problems.append(f"sampled (--sampled) applies to critics only (methods whose routers learn from "
                            f"evaluated costs: {', '.join(m.name for m in methods() if m.sampling)}), "
                            f"not to method {v['method']!r}")
        if v["policy"] != "softmax":
            problems.append(f"policy {v['policy']} applies to critics only, not to method {v['method']!r}")
    if v["policy"] == "softmax" and (v["epsilon"] != fields["epsilon"].default or v["epsilon_half_life"] is not None):
        problems.append("epsilon and epsilon_half_life apply to the epsilon_greedy and argmax_floor policies only")
    for name in ("critic_targets", "sampled_talr"):
        if v[name] != fields[name].default and v["sampled"] is not True:
            problems.append(f"{name} applies to sampled critics only (--sampled)")
    if v["k_cpt_input_scale"] != K_CPT_INPUT_SCALE and not v["dynamic_k_cpt"]:
        # it would be silently ignored: only the routers of a dynamic-k_cpt network read k_cpt
        problems.append("k_cpt_input_scale (--k-cpt-input-scale) applies to dynamic_k_cpt runs only")
    for name, field in fields.items():  # bool settings take True or False only, never 1, 'yes' or 'no'
        if isinstance(field.default, bool) and not isinstance(v[name], bool):
            problems.append(f"{name} must be true or false (got {got(v[name])})")
    for name, field in fields.items():
        value = v[name]
        bound = next((m for m in field.metadata if isinstance(m, Bound)), None)
        if bound is not None and (value is not None or not (field.json_schema_extra or {}).get("optional")):
            problem = bound.problem(value)
            if problem:
                problems.append(f"{name} {problem}")
    k_set = v["k_cpt_set"]
    if not isinstance(k_set, (tuple, list)) or not k_set:
        problems.append(f"k_cpt_set must hold one or more k_cpt values (got {k_set!r})")
    else:
        problems += [f"k_cpt_set values {K_CPT.problem(k)}" for k in k_set if K_CPT.problem(k)]
    device = v["device"]
    if not (isinstance(device, str) and (device in ("auto", "cpu", "cuda")
                                         or (device.startswith("cuda:") and device[5:].isdigit()))):
        problems.append(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    problem = _choices("dist_backend", v["dist_backend"], get_args(fields["dist_backend"].annotation), one_of=True)
    if problem:
        problems.append(problem)
    static = v["static_classifier"]
    if static is not None and (isinstance(static, bool) or not isinstance(static, (str, int))):
        problems.append(f"static_classifier must be a classifier name or a 1-based index (got {got(static)})")
    return problems


DIST_BACKENDS = get_args(TrainConfig.model_fields["dist_backend"].annotation)
