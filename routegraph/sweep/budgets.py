"""Budgets: one name (``--budget small``) sets the iterations *and* the schedule tuned for them.

Budgets are written once, in a budgets file (``experiments/budgets.yaml``, which
every shipped experiment file names with ``budgets: budgets.yaml``) or inline
in an experiment file. Nothing else may set the iterations or the schedule of
a sweep's runs: experiment and group ``train`` settings that try are rejected
(see :data:`routegraph.sweep.schema.BUDGET_KEYS`). Each budget carries the text
of its deviation from the paper, which the sweep prints and records.

>>> budgets = load_budgets_file("experiments/budgets.yaml")          # doctest: +SKIP
>>> budgets["paper"].train_settings()                               # doctest: +SKIP
{'iterations': 80000, 'schedule': 'paper', 'eval_every': 2500, ...}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ExperimentError, Problem, did_you_mean
from ..located.tree import plain
from ..located.files import check_kind, located_problems, position, read_located, validate

PAPER_ITERATIONS = 80_000


@dataclass(frozen=True)
class Budget:
    name: str
    iterations: int
    schedule: str
    description: str = ""
    deviation: str = ""
    settings: dict = field(default_factory=dict)  # further TrainConfig settings (batch size, cadences, lr...)
    source: str = ""  # the file it was read from

    def train_settings(self) -> dict[str, Any]:
        """The TrainConfig settings this budget sets (the only source of iterations and schedule)."""
        return {"iterations": self.iterations, "schedule": self.schedule, **self.settings}

    def resolved_schedule(self, method: str = "actor") -> dict[str, float]:
        from ..train.config import TrainConfig

        return TrainConfig(method=method, **self.train_settings()).resolved()

    @property
    def is_paper(self) -> bool:
        return (self.iterations == PAPER_ITERATIONS and self.schedule == "paper"
                and not {"lr", "lr_half_life", "tau_half_life"} & set(self.settings)
                and self.settings.get("batch_size", 128) == 128)

    def describe(self) -> str:
        """One line: iterations, resolved schedule, and the deviation from the paper."""
        actor, critic = self.resolved_schedule("actor"), self.resolved_schedule("pragmatic_critic")
        batch = self.settings.get("batch_size", 128)
        text = (f"budget {self.name}: {self.iterations:,} iterations at batch {batch}, schedule {self.schedule} "
                f"(lr {actor['lr']:g} halving every {actor['lr_half_life']:g} iterations; tau {actor['tau']:g} "
                f"(actor) / {critic['tau']:g} (critics) halving every {actor['tau_half_life']:g})")
        if self.is_paper:
            return text + "; the paper's schedule exactly"
        return text + f"; deviation from the paper: {self.deviation or '(not described)'}"

    def to_json(self) -> dict:
        return {"name": self.name, "iterations": self.iterations, "schedule": self.schedule,
                "settings": dict(self.settings), "resolved": {"actor": self.resolved_schedule("actor"),
                                                              "critic": self.resolved_schedule("pragmatic_critic")},
                "paper": self.is_paper, "deviation": "" if self.is_paper else self.deviation,
                "description": self.description, "source": self.source}


def _from_model(name: str, model, source: str) -> Budget:
    extra = {k: v for k, v in model.model_dump(exclude_none=True).items()
             if k not in ("iterations", "schedule", "description", "deviation")}
    return Budget(name, model.iterations, model.schedule, model.description, model.deviation, extra, source)


def load_budgets_file(path: str | Path) -> dict[str, Budget]:
    """Read a budgets file (``kind: budgets``)."""
    from .schema import BudgetsFileModel

    file = Path(path)
    root = read_located(file)
    data = plain(root)
    check_kind(data, root, file, "budgets", "a budgets file")
    model = validate(BudgetsFileModel, data, root, file)
    budgets = {name: _from_model(name, b, str(file)) for name, b in model.budgets.items()}
    problems = check_budgets(budgets, file, root, ("budgets",))
    if problems:
        raise ExperimentError(problems)
    return budgets


def check_budgets(budgets: dict[str, Budget], file: Path, root, where: tuple) -> list[Problem]:
    from .schema import NAME_PATTERN

    import re

    problems = []
    for name, budget in budgets.items():
        at = where + (name,)
        if not re.match(NAME_PATTERN, name):
            problems.append(Problem(f"budget name {name!r} must match {NAME_PATTERN}", path=".".join(at),
                                    file=str(file), **position(root, at, key=True)))
        if not budget.is_paper and not budget.deviation.strip():
            problems.append(Problem(f"budget {name!r} departs from the paper's 80,000 iterations and schedule; "
                                    f"describe how in 'deviation' (it is printed and written to sweep.json)",
                                    path=".".join(at), file=str(file), **position(root, at)))
        if name == "paper" and not budget.is_paper:
            problems.append(Problem("the budget named 'paper' must be the paper's: 80,000 iterations, "
                                    "schedule paper, batch 128, no lr/half-life overrides",
                                    path=".".join(at), file=str(file), **position(root, at)))
    return problems


def load_budgets_ref(ref, experiment_file: Path, root, problems: list[Problem]):
    """An experiment's ``budgets:`` entry (a budgets file's path, or an inline mapping)."""
    from pydantic import ValidationError

    from .schema import BudgetModel, resolve_path

    if isinstance(ref, str):
        path = resolve_path(ref, experiment_file)
        if not path.is_file():
            problems.append(Problem(f"budgets file {str(path)!r} not found (paths are relative to the experiment "
                                    f"file)", path="budgets", file=str(experiment_file), **position(root, ("budgets",))))
            return {}, None
        try:
            return load_budgets_file(path), path
        except ExperimentError as exc:
            problems.extend(exc.problems)
            return {}, path
    budgets = {}
    for name, value in ref.items():
        try:
            budgets[name] = _from_model(name, BudgetModel.model_validate(value), str(experiment_file))
        except ValidationError as exc:
            problems.extend(located_problems(exc, BudgetModel, value, root, experiment_file, ("budgets", name)))
    if not budgets and not problems:
        problems.append(Problem("no budgets defined", path="budgets", file=str(experiment_file),
                                **position(root, ("budgets",))))
    problems.extend(check_budgets(budgets, experiment_file, root, ("budgets",)))
    return budgets, None


def get_budget(budgets: dict[str, Budget], name: str | None, where: str = "") -> Budget:
    """The budget called ``name``; a ConfigError listing the known ones otherwise."""
    known = list(budgets)
    if name is None:
        raise ConfigError(f"choose a budget with --budget ({', '.join(known)}){where}")
    if name not in budgets:
        hint = did_you_mean(name, known)
        raise ConfigError(f"unknown budget {name!r}" + (f"; {hint}" if hint else "") +
                          f" (known{where}: {', '.join(known)})")
    return budgets[name]
