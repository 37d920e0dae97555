"""Training settings: one frozen dataclass, JSON-serialisable, every value overridable.

Defaults are the paper's / reference code's (see docs/training.md). A run
shorter than ``PAPER_MIN_ITERATIONS`` with ``schedule='auto'`` uses the
small-budget schedule instead (a documented deviation: the paper's learning
rate of 0.1 stalls for the first ~750 iterations, so short runs start at 0.02
with a half-life of half the run).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..checks import K_CPT, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, SEED, THREADS, Bound
from ..errors import ConfigError, got
from ..k_cpt import K_CPT_INPUT_SCALE

K_CPT_SET = (0.0, 1e-9, 2e-9, 4e-9, 8e-9, 1.6e-8, 3.2e-8, 6.4e-8)
PAPER_MIN_ITERATIONS = 40_000
METHODS = ("static", "actor", "pragmatic_critic", "optimistic_critic")
DIST_BACKENDS = ("auto", "gloo", "nccl")
# the numbers every numeric setting accepts; the CLI flags use the same bounds (cli/options.py)
BOUNDS: dict[str, Bound] = {
    "iterations": POSITIVE_INT, "batch_size": POSITIVE_INT, "seed": SEED,
    "lr": POSITIVE, "lr_half_life": POSITIVE, "momentum": Bound(float, 0, hi=1), "tau": POSITIVE,
    "tau_half_life": POSITIVE, "k_cpt": K_CPT, "k_cpt_input_scale": POSITIVE, "eps": Bound(float, 0, hi=1), "k_dec": NON_NEGATIVE,
    "k_ure": NON_NEGATIVE, "k_l2": NON_NEGATIVE, "log_every": POSITIVE_INT, "eval_every": NON_NEGATIVE_INT,
    "eval_examples": NON_NEGATIVE_INT, "checkpoint_every": NON_NEGATIVE_INT, "threads": THREADS,
    "val_fraction": Bound(float, 0, hi=1), "val_max": NON_NEGATIVE_INT,
}
OPTIONAL = ("lr", "lr_half_life", "tau", "tau_half_life")  # None: from the schedule


@dataclass(frozen=True)
class TrainConfig:
    method: str = "actor"
    iterations: int = 80_000
    batch_size: int = 128
    seed: int = 0
    # optimiser and schedules
    schedule: str = "auto"  # auto | paper | small
    lr: float | None = None  # None: from the schedule
    lr_half_life: float | None = None
    momentum: float = 0.9
    tau: float | None = None  # None: 1.0 for the actor, 0.1 for critics (reference)
    tau_half_life: float | None = None
    # routing costs
    k_cpt: float = 0.0
    dynamic_k_cpt: bool = False
    k_cpt_set: tuple[float, ...] = K_CPT_SET
    k_cpt_input_scale: float = K_CPT_INPUT_SCALE  # dynamic k_cpt: routers read this times k_cpt (routegraph.k_cpt)
    eps: float = 1e-6
    error: str = "cross_entropy"  # the error in the costs: cross_entropy | zero_one (critic targets only)
    # regularisation and optimisation tricks
    k_dec: float = 0.01
    k_ure: float = 0.001
    k_l2: float = 1e-4
    talr: bool = True
    regularized_policy: bool = False  # let gradients through the p(l) weighting of c_mod
    # static baselines
    static_classifier: str | None = None
    # bookkeeping
    log_every: int = 50
    eval_every: int = 0  # 0: only at the end
    eval_examples: int = 2000  # periodic evaluation: a fixed random sample of this many validation images (0: all)
    # validation split, when the task has no val split of its own: a fixed-seed stratified slice of
    # train, excluded from training (data/split.py); periodic evaluation and calibrate use it
    val_fraction: float = 0.1
    val_max: int = 5000  # at most this many held-out images (0: no cap)
    checkpoint_every: int = 500
    augment: bool = True
    threads: int = 0  # 0: leave torch's default
    device: str = "auto"  # auto (a CUDA GPU if there is one, else the CPU) | cpu | cuda | cuda:N
    fast: bool = True  # channels_last, fused convs/heads, prefetch: same results up to float rounding
    cuda_graph: bool = True  # on a GPU (one process): the step captured once and replayed; same results
    # torchrun (multi-process) training
    dist_backend: str = "auto"  # auto (nccl with one GPU per process, else gloo) | gloo | nccl
    sync_batch_norm: bool = True  # BN statistics over the global batch, as in one process (False: per rank)

    def __post_init__(self):
        problems = []
        if self.method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.schedule not in ("auto", "paper", "small"):
            problems.append(f"schedule must be auto, paper or small, got {self.schedule!r}")
        if self.error not in ("cross_entropy", "zero_one"):
            problems.append(f"error must be cross_entropy or zero_one, got {self.error!r}")
        elif self.error == "zero_one" and not self.method.endswith("critic"):
            # it would be silently ignored: the 0/1 error has no gradient, only critic targets use it
            problems.append(f"error zero_one applies to critic targets only, not to method {self.method!r}")
        if self.static_classifier is not None and self.method != "static":
            # it would be silently ignored: only a static baseline ends at a chosen exit
            problems.append(f"static_classifier (--static-exit) applies to method static only, "
                            f"not to method {self.method!r}")
        if self.k_cpt_input_scale != K_CPT_INPUT_SCALE and not self.dynamic_k_cpt:
            # it would be silently ignored: only the routers of a dynamic-k_cpt network read k_cpt
            problems.append("k_cpt_input_scale (--k-cpt-input-scale) applies to dynamic_k_cpt runs only")
        for f in fields(self):  # bool settings take True or False only, never 1, 'yes' or 'no'
            value = getattr(self, f.name)
            if f.type in ("bool", bool) and not isinstance(value, bool):
                problems.append(f"{f.name} must be true or false (got {got(value)})")
        for name, bound in BOUNDS.items():
            value = getattr(self, name)
            if value is not None or name not in OPTIONAL:
                problem = bound.problem(value)
                if problem:
                    problems.append(f"{name} {problem}")
        if not isinstance(self.k_cpt_set, (tuple, list)) or not self.k_cpt_set:
            problems.append(f"k_cpt_set must hold one or more k_cpt values (got {self.k_cpt_set!r})")
        else:
            problems += [f"k_cpt_set values {K_CPT.problem(k)}" for k in self.k_cpt_set if K_CPT.problem(k)]
        if not (self.device in ("auto", "cpu", "cuda") or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            problems.append(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.dist_backend not in DIST_BACKENDS:
            problems.append(f"dist_backend must be one of {', '.join(DIST_BACKENDS)}, got {self.dist_backend!r}")
        if problems:
            raise ConfigError("; ".join(problems))

    # -- resolved schedule -------------------------------------------------
    @property
    def paper_schedule(self) -> bool:
        return self.schedule == "paper" or (self.schedule == "auto" and self.iterations >= PAPER_MIN_ITERATIONS)

    def resolved(self) -> dict[str, float]:
        """The schedule actually used: explicit values win over the preset."""
        critic = self.method.endswith("critic")
        if self.paper_schedule:
            preset = {"lr": 0.1, "lr_half_life": 10_000, "tau": 0.1 if critic else 1.0, "tau_half_life": 20_000}
        else:
            preset = {"lr": 0.02, "lr_half_life": self.iterations / 2,
                      "tau": 0.1 if critic else 1.0, "tau_half_life": self.iterations / 4}
        return {k: (getattr(self, k) if getattr(self, k) is not None else v) for k, v in preset.items()}

    def lr_at(self, iteration: int) -> float:
        s = self.resolved()
        return s["lr"] * 0.5 ** (iteration / s["lr_half_life"])

    def tau_at(self, iteration: int) -> float:
        s = self.resolved()
        return s["tau"] * 0.5 ** (iteration / s["tau_half_life"])

    # -- serialisation -----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["k_cpt_set"] = list(self.k_cpt_set)
        data["resolved_schedule"] = self.resolved()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if "k_cpt_set" in kwargs:
            kwargs["k_cpt_set"] = tuple(kwargs["k_cpt_set"])
        return cls(**kwargs)

    def with_(self, **changes) -> "TrainConfig":
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

