"""Expansion: an experiment, a budget and a selection -> the list of runs, each with a stable id.

A run's id is :func:`routegraph.train.run.run_id` of exactly what ``train_run``
will record (method, k_cpt and a hash of the full training config, the spec's
text, the data task and options, and the spec overrides), so the sweep's
directory ``<out>/<id>`` and the ``run_id`` in its ``config.json`` agree, and a
rerun of the sweep finds the same directories. Which executor runs it, and
with how many threads, is not part of a run's identity.

>>> plan = expand(load_experiment("experiments/hybrid.yaml"), "small", tier=1)   # doctest: +SKIP
>>> len(plan.runs)                                                               # doctest: +SKIP
13
"""
from __future__ import annotations

import fnmatch
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..checks import check_k_cpt
from ..errors import ConfigError, did_you_mean
from ..methods import is_fixed_path
from .budgets import Budget, get_budget
from .schema import Experiment, GroupModel


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to train one run of a sweep, JSON-serialisable (it travels to workers)."""

    id: str
    experiment: str
    group: str
    label: str
    tier: int | None
    method: str
    k_cpt: float | None  # None for a dynamic-k_cpt run
    base_k_cpt: float | None  # before the group's k_cpt_divisor
    static_exit: str | None
    spec: str  # the spec path handed to train_run
    spec_text: str
    overrides: dict
    data: str
    data_options: dict
    train: dict  # TrainConfig settings (never 'threads')
    resources: dict = field(default_factory=dict)

    def config(self):
        from ..train.config import TrainConfig

        return TrainConfig.from_json(self.train)

    @property
    def iterations(self) -> int:
        return int(self.train["iterations"])

    @property
    def kind(self) -> str:
        return "static" if is_fixed_path(self.method) else ("dynamic" if self.train.get("dynamic_k_cpt") else "routed")

    @property
    def spec_name(self) -> str:
        return Path(self.spec).stem

    def describe(self) -> str:
        if is_fixed_path(self.method):
            return f"{self.group} exit {self.static_exit}"
        if self.k_cpt is None:
            return f"{self.group} (dynamic k_cpt)"
        return f"{self.group} k_cpt={self.k_cpt:g}"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunSpec":
        return cls(**data)


@dataclass
class Plan:
    experiment: Experiment
    budget: Budget
    runs: list[RunSpec]
    selection: dict

    def groups(self) -> list[str]:
        seen = []
        for run in self.runs:
            if run.group not in seen:
                seen.append(run.group)
        return seen


def parse_k_cpt_list(text: str | Sequence[float] | None) -> list[float] | None:
    """``"1e-9,4e-9"`` -> ``[1e-09, 4e-09]``."""
    if text is None:
        return None
    if not isinstance(text, str):
        return [check_k_cpt(v) for v in text]
    values = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"--k-cpt {text!r}: {part!r} is not a number") from None
        values.append(check_k_cpt(value, f"--k-cpt {text!r}:"))
    if not values:
        raise ConfigError(f"--k-cpt {text!r}: no values")
    return values


def _wanted_exits(exits: Sequence[int | str] | str | None, groups: Sequence[GroupModel]) -> list[str] | None:
    """``"5,8"`` -> ``["5", "8"]``, each one an exit of a selected static group."""
    if exits is None:
        return None
    parts = exits.replace(" ", "").split(",") if isinstance(exits, str) else [str(e) for e in exits]
    wanted = [p for p in parts if p]
    known = list(dict.fromkeys(str(e) for g in groups if is_fixed_path(g.method) for e in g.static_exits or []))
    if not known:
        raise ConfigError("--exits selects static baselines, but the selection has no static group")
    for exit_ in wanted:
        if exit_ not in known:
            hint = did_you_mean(exit_, known)
            raise ConfigError(f"--exits: no static baseline ends at {exit_!r}" + (f"; {hint}" if hint else "")
                              + f" (static_exits: {', '.join(known)})")
    if not wanted:
        raise ConfigError(f"--exits {exits!r}: no values")
    return wanted


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-15)


def select_groups(experiment: Experiment, only: Iterable[str] | None, tier: int | None) -> list[GroupModel]:
    """Groups named by ``only`` (names or shell patterns) whose tier is at most ``tier``."""
    groups = list(experiment.groups)
    if only:
        names = experiment.group_names()
        chosen: set[str] = set()
        for pattern in only:
            matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                hint = did_you_mean(pattern, names)
                raise ConfigError(f"--only {pattern!r}: no group of experiment {experiment.name!r} matches"
                                  + (f"; {hint}" if hint else "") + f" (groups: {', '.join(names)})")
            chosen.update(matched)
        groups = [g for g in groups if g.name in chosen]
    if tier is not None:
        groups = [g for g in groups if g.tier is not None and g.tier <= tier]
    return groups


def expand(experiment: Experiment, budget: str | Budget, *, only: Iterable[str] | None = None,
           tier: int | None = None, k_cpt: Sequence[float] | str | None = None,
           exits: Sequence[int | str] | str | None = None, cwd: str | os.PathLike | None = None) -> Plan:
    """The runs of ``experiment`` under ``budget``, restricted to a selection.

    - ``only``: group names or patterns (``static,actor``, ``'actor*'``);
    - ``tier``: groups of tier 1..``tier``; routed groups then use the
      experiment's ``tier_k_cpt`` (4 values spread over the set) unless
      ``k_cpt`` says otherwise;
    - ``k_cpt``: the k_cpt values of routed groups (before a group's
      ``k_cpt_divisor``). Static baselines and the dynamic-k_cpt run are not
      filtered by k_cpt;
    - ``exits``: the exits of static baselines (``"5,8"``); routed runs are
      not filtered by exit.
    """
    if not isinstance(budget, Budget):
        budget = get_budget(experiment.budgets, budget, f" in {experiment.budgets_file or experiment.file}")
    wanted = parse_k_cpt_list(k_cpt)
    if wanted is None and tier is not None:
        wanted = list(experiment.model.tier_k_cpt)
    model = experiment.model
    groups = select_groups(experiment, only, tier)
    wanted_exits = _wanted_exits(exits, groups)
    runs: list[RunSpec] = []
    spec_cache: dict[Path, tuple[str, dict]] = {}
    for group in groups:
        spec_file = experiment.group_spec(group)
        if spec_file not in spec_cache:
            spec_cache[spec_file] = _read_spec(spec_file)
        spec_text, spec_params = spec_cache[spec_file]
        data = group.data or model.data
        data_options = dict(model.data_options if group.data_options is None else group.data_options)
        overrides = dict(group.overrides)
        _follow_task_classes(overrides, spec_params, data)
        base = {**model.train, **group.train, **budget.train_settings(), "method": group.method,
                "k_cpt_set": [k / group.k_cpt_divisor for k in model.k_cpt_set]}
        resources = (group.resources or model.resources).model_dump()
        common = dict(experiment=model.name, group=group.name, label=_label(group), tier=group.tier,
                      method=group.method, spec=_display_path(spec_file, cwd), spec_text=spec_text,
                      overrides=overrides, data=data, data_options=data_options, resources=resources)
        if is_fixed_path(group.method):
            for exit_ in group.static_exits or []:
                if wanted_exits is not None and str(exit_) not in wanted_exits:
                    continue
                train = {**base, "k_cpt": 0.0, "static_classifier": str(exit_)}
                runs.append(_make(train, common, None, None, str(exit_)))
        elif group.dynamic_k_cpt:
            runs.append(_make({**base, "dynamic_k_cpt": True, "k_cpt": 0.0}, common, None, None, None))
        else:
            values = list(group.k_cpt) if group.k_cpt is not None else list(model.k_cpt_set)
            if wanted is not None:
                values = [v for v in values if any(_close(v, w) for w in wanted)]
            for value in values:
                k = value / group.k_cpt_divisor
                runs.append(_make({**base, "k_cpt": k}, common, k, value, None))
    _check_unique(runs)
    selection = {"only": list(only) if only else None, "tier": tier, "k_cpt": wanted}
    if wanted_exits is not None:
        selection["exits"] = wanted_exits
    if wanted is not None:
        outside = [w for w in wanted if not any(_close(w, k) for k in model.k_cpt_set)]
        selection["k_cpt_outside_set"] = outside
    return Plan(experiment, budget, runs, selection)


def _make(train: dict, common: dict, k: float | None, base_k: float | None, exit_: str | None) -> RunSpec:
    from ..runs import run_id
    from ..train.config import TrainConfig

    config = TrainConfig.from_json(train)
    # exactly what train_run hashes: the data task, the options as handed to it (None when empty; see
    # executors.execute_run) and the overrides it ends up using (num_classes pinned as it would pin it)
    extra = {"data": common["data"], "data_options": common["data_options"] or None,
             "overrides": common["overrides"]}
    rid = run_id(config, common["spec_text"], extra)
    clean = config.to_json()
    clean.pop("resolved_schedule", None)
    return RunSpec(id=rid, k_cpt=k, base_k_cpt=base_k, static_exit=exit_, train=clean, **common)


def _label(group: GroupModel) -> str:
    if group.label:
        return group.label
    return group.method + (" (dynamic k_cpt)" if group.dynamic_k_cpt else "")


def _read_spec(path: Path) -> tuple[str, dict]:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        params = (yaml.safe_load(text) or {}).get("params") or {}
    except yaml.YAMLError:
        params = {}  # the spec loader reports it, located, when the run starts
    return text, params if isinstance(params, dict) else {}


def _follow_task_classes(overrides: dict, spec_params: dict, data: str) -> None:
    """Pin num_classes to the task's, as train_run does, so the id matches what it records."""
    from ..data.tasks import task_class_names

    if "num_classes" in spec_params and "num_classes" not in overrides:
        classes = len(task_class_names(data))
        if spec_params["num_classes"] != classes:
            overrides["num_classes"] = classes


def _display_path(path: Path, cwd) -> str:
    """The spec path relative to the working directory when it is below it, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path(os.path.abspath(cwd or os.getcwd()))))
    except ValueError:
        return str(path)


def _check_unique(runs: list[RunSpec]) -> None:
    seen: dict[str, RunSpec] = {}
    for run in runs:
        if run.id in seen:
            first = seen[run.id]
            raise ConfigError(f"groups {first.group!r} ({first.describe()}) and {run.group!r} ({run.describe()}) "
                              f"define the same run {run.id}; make their settings differ or drop one")
        seen[run.id] = run
