"""Experiment files: a declarative, validated description of a paper experiment.

An experiment file (``experiments/hybrid.yaml``) names a spec, a data task, a
file of budgets and a list of *groups*; a group is one curve of a figure
(``static`` n = 1..8, ``actor`` over the k_cpt set, an ablation, ...). See
docs/experiments.md for the format. :func:`load_experiment` reads and checks a
file and reports every mistake at once, each located as
``file:line:col: dotted.key: what is wrong``, as one :class:`ExperimentError`
(a :class:`~routegraph.errors.ConfigError`).

>>> exp = load_experiment("experiments/hybrid.yaml")            # doctest: +SKIP
>>> [g.name for g in exp.groups][:3]                            # doctest: +SKIP
['static', 'actor', 'actor_dynamic']
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from ..checks import K_CPT
from ..errors import ConfigError, ExperimentError, Problem, did_you_mean
from ..methods import is_fixed_path, method_names
from ..train.config import K_CPT_SET, TrainConfig
from ..spec.schema import Bool, Float, Int, spec_float, spec_int
from ..located.tree import plain
from ..located.files import check_kind, position, read_located, validate

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"
#: the 4 values of the paper's k_cpt set the tiers use (spread over the set)
TIER_K_CPT = (1e-9, 4e-9, 1.6e-8, 6.4e-8)

#: TrainConfig settings that only a budget may set (single-sourced: one --budget sets them all)
BUDGET_KEYS = ("iterations", "schedule", "lr", "lr_half_life", "tau_half_life", "batch_size",
               "checkpoint_every", "eval_every", "log_every", "eval_examples")
#: TrainConfig settings that the structure of a group sets
STRUCTURE_KEYS = {"method": "the group's 'method'", "k_cpt": "the group's 'k_cpt' list or --k-cpt",
                  "dynamic_k_cpt": "the group's 'dynamic_k_cpt'", "k_cpt_set": "the experiment's 'k_cpt_set'",
                  "static_classifier": "the group's 'static_exits'"}
#: TrainConfig settings the executor sets (never part of a run's identity)
EXECUTOR_KEYS = {"threads": "the executor (--jobs/--threads, or the Ray task's num_cpus)"}


# ----------------------------------------------------------------------------- the models
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BudgetModel(_Strict):
    """One budget: the iterations and the schedule tuned for them."""

    iterations: spec_int(gt=0)
    schedule: Literal["paper", "small", "auto"]
    description: str = ""
    deviation: str = ""  # how this budget departs from the paper (printed and written to sweep.json)
    batch_size: spec_int(gt=0) | None = None
    lr: spec_float(gt=0) | None = None
    lr_half_life: spec_float(gt=0) | None = None
    tau_half_life: spec_float(gt=0) | None = None
    checkpoint_every: spec_int(ge=0) | None = None
    eval_every: spec_int(ge=0) | None = None
    log_every: spec_int(gt=0) | None = None
    eval_examples: spec_int(ge=0) | None = None


class BudgetsFileModel(_Strict):
    kind: Literal["budgets"]
    description: str = ""
    budgets: dict[str, BudgetModel] = Field(min_length=1)


class ResourcesModel(_Strict):
    """What one run asks of an executor (Ray: the task's resource request; local: ignored)."""

    num_cpus: spec_float(gt=0) = 2
    num_gpus: spec_float(ge=0) = 0


class CostModel(_Strict):
    """Seconds per training step at batch 128, one process using all ``reference_cores``."""

    static: Float | list[Float] | None = None  # one value, or one per static exit (1-based order)
    routed: Float | None = None  # actor, critics and dynamic-k_cpt runs unless given below
    critic: Float | None = None
    dynamic: Float | None = None


class GroupModel(_Strict):
    """One curve: a method on a spec, swept over k_cpt (routed) or static exits (static)."""

    name: str = Field(pattern=NAME_PATTERN)
    method: str  # a registered strategy (routegraph.methods), checked below
    label: str | None = None  # curve label in config.json (default: the method; paper names in plots)
    description: str = ""
    tier: spec_int(ge=1) | None = None  # None: only in a full sweep (no --tier)
    spec: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")
    data: str | None = None
    data_options: dict[str, Any] | None = None
    k_cpt: list[Float] | None = None  # routed: its k_cpt values (default: the experiment's k_cpt_set)
    k_cpt_divisor: spec_float(gt=0) = 1.0  # capacity variants: k_cpt / 4, / 9
    dynamic_k_cpt: Bool = False
    static_exits: list[Int | str] | None = None
    train: dict[str, Any] = Field(default_factory=dict)
    resources: ResourcesModel | None = None

    @field_validator("method")
    @classmethod
    def _registered(cls, value: str) -> str:
        names = method_names()
        if value not in names:  # worded as pydantic's Literal error (located.problems renders it)
            expected = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}"
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value


class ExperimentModel(_Strict):
    kind: Literal["experiment"] = "experiment"
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    paper: str = ""  # which figure it reproduces
    spec: str
    data: str
    data_options: dict[str, Any] = Field(default_factory=dict)
    budgets: str | dict[str, Any]
    k_cpt_set: list[Float] = Field(default_factory=lambda: list(K_CPT_SET), min_length=1)
    tier_k_cpt: list[Float] = Field(default_factory=lambda: list(TIER_K_CPT), min_length=1)
    train: dict[str, Any] = Field(default_factory=dict)
    resources: ResourcesModel = Field(default_factory=ResourcesModel)
    reference_cores: spec_int(gt=0) = 2
    seconds_per_step: dict[str, CostModel] = Field(default_factory=dict)
    groups: list[GroupModel] = Field(min_length=1)


# ----------------------------------------------------------------------------- loaded form
@dataclass(frozen=True)
class Experiment:
    """A validated experiment file, with paths resolved."""

    model: ExperimentModel
    file: Path
    spec_path: Path  # the default spec, resolved against the experiment file's folder
    budgets: dict  # name -> routegraph.sweep.budgets.Budget
    budgets_file: Path | None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def groups(self) -> list[GroupModel]:
        return self.model.groups

    def group_spec(self, group: GroupModel) -> Path:
        return resolve_path(group.spec, self.file) if group.spec else self.spec_path

    def group_names(self) -> list[str]:
        return [g.name for g in self.model.groups]


def resolve_path(path: str, relative_to: Path) -> Path:
    """``path`` as written in a file: absolute, or relative to that file's folder."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else (Path(relative_to).parent / p)


# ----------------------------------------------------------------------------- loading
def load_experiment(path: str | os.PathLike) -> Experiment:
    """Read and validate an experiment file (and its budgets file)."""
    from .budgets import load_budgets_ref

    file = Path(path)
    root = read_located(file)
    data = plain(root)
    if isinstance(data, dict) and data.get("kind") == "budgets":
        raise ExperimentError([Problem("this is a budgets file, not an experiment file; pass an experiment "
                                       "(e.g. experiments/hybrid.yaml) and choose a budget with --budget",
                                       path="kind", file=str(file), **position(root, ("kind",)))])
    check_kind(data, root, file, "experiment", "an experiment file")
    model = validate(ExperimentModel, data, root, file)
    problems: list[Problem] = []

    def problem(message: str, where: tuple, allowed: str = "", key: bool = False):
        problems.append(Problem(message, path=".".join(map(str, where)), file=str(file), allowed=allowed,
                                **position(root, where, key=key)))

    spec_path = resolve_path(model.spec, file)
    if not spec_path.is_file():
        problem(f"spec file {str(spec_path)!r} not found (paths are relative to the experiment file)", ("spec",))
    _check_task(model.data, ("data",), problem)
    _check_train(model.train, ("train",), problem)
    for key in ("k_cpt_set", "tier_k_cpt"):
        for i, value in enumerate(getattr(model, key)):
            if K_CPT.problem(value):
                problem(f"k_cpt {K_CPT.problem(value)}", (key, i))
    seen: dict[str, int] = {}
    for i, group in enumerate(model.groups):
        where = ("groups", i)
        if group.name in seen:
            problem(f"duplicate group name {group.name!r} (first at groups.{seen[group.name]})", where + ("name",))
        seen.setdefault(group.name, i)
        if group.spec and not resolve_path(group.spec, file).is_file():
            problem(f"spec file {str(resolve_path(group.spec, file))!r} not found "
                    f"(paths are relative to the experiment file)", where + ("spec",))
        if group.data:
            _check_task(group.data, where + ("data",), problem)
        _check_train(group.train, where + ("train",), problem)
        _check_group(group, where, problem)
    budgets, budgets_file = load_budgets_ref(model.budgets, file, root, problems)
    if problems:  # in file order, the experiment's own lines before its budgets file's
        raise ExperimentError(sorted(problems, key=lambda p: (p.file != str(file), p.line, p.col)))
    _check_configs(model, file, root)
    return Experiment(model, file, spec_path, budgets, budgets_file)


def _check_group(group: GroupModel, where: tuple, problem) -> None:
    fields_set = group.model_fields_set
    if is_fixed_path(group.method):
        if not group.static_exits:
            problem("a static group needs 'static_exits' (the classifiers its baselines end at, "
                    "e.g. [1, 2, 3, 4, 5, 6, 7, 8])", where, key=False)
        for key in ("k_cpt", "k_cpt_divisor", "dynamic_k_cpt"):
            if key in fields_set:
                problem(f"static baselines have no k_cpt; remove {key!r}", where + (key,), key=True)
    else:
        if group.static_exits is not None:
            problem(f"'static_exits' is for method static, not {group.method}", where + ("static_exits",), key=True)
        if group.dynamic_k_cpt and group.k_cpt is not None:
            problem("a dynamic-k_cpt group is one run trained on the experiment's k_cpt_set; remove 'k_cpt'",
                    where + ("k_cpt",), key=True)
        for i, value in enumerate(group.k_cpt or []):
            if K_CPT.problem(value):
                problem(f"k_cpt {K_CPT.problem(value)}", where + ("k_cpt", i))
    for i, value in enumerate(group.static_exits or []):
        if isinstance(value, int) and value < 1:
            problem(f"static exits are 1-based, got {value}", where + ("static_exits", i))


def _check_task(name: str, where: tuple, problem) -> None:
    from ..data.schemes import SCHEMES, scheme_path
    from ..data.tasks import TASKS

    known = sorted(TASKS.names())
    if name not in known and scheme_path(name) is None:  # folder:PATH, npz:PATH are checked when a run loads them
        hint = did_you_mean(name, known)
        problem(f"unknown data task {name!r}" + (f"; {hint}" if hint else ""), where,
                allowed="known: " + ", ".join(known) + ", or " + ", ".join(f"{s}:PATH" for s in SCHEMES) if known else "")


def _check_train(train: dict, where: tuple, problem) -> None:
    known = set(TrainConfig.model_fields)
    for key in train:
        at = where + (key,)
        if key in BUDGET_KEYS:
            problem(f"{key!r} is set by the budget (--budget; see the budgets file), not per experiment or group",
                    at, key=True)
        elif key in STRUCTURE_KEYS:
            problem(f"{key!r} is set by {STRUCTURE_KEYS[key]}", at, key=True)
        elif key in EXECUTOR_KEYS:
            problem(f"{key!r} is set by {EXECUTOR_KEYS[key]}", at, key=True)
        elif key not in known:
            hint = did_you_mean(key, known)
            problem(f"unknown training setting {key!r}" + (f"; {hint}" if hint else ""), at, key=True,
                    allowed="known: " + ", ".join(sorted(known - set(BUDGET_KEYS) - set(STRUCTURE_KEYS)
                                                         - set(EXECUTOR_KEYS))))


def _check_configs(model: ExperimentModel, file: Path, root) -> None:
    """Every group's settings must make a valid TrainConfig (types and ranges)."""

    problems = []
    for i, group in enumerate(model.groups):
        try:
            TrainConfig(**{**model.train, **group.train, "method": group.method, "iterations": 1,
                           "dynamic_k_cpt": group.dynamic_k_cpt})  # the group's structure, as expand() sets it
        except (ConfigError, TypeError) as exc:
            where = ("groups", i, "train") if group.train else ("train",)
            problems.append(Problem(f"bad training setting: {exc}", path=".".join(map(str, where)), file=str(file),
                                    **position(root, where)))
    if problems:
        raise ExperimentError(problems)
