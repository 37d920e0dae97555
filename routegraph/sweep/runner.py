"""The sweep: plan -> status on disk -> estimate -> execute the rest -> ``sweep.json``.

>>> summary = run_sweep("experiments/hybrid.yaml", "small", tier=1, executor=LocalExecutor(jobs=2))  # doctest: +SKIP

Resumable: a run that is done (eval.json plus a checkpoint at the configured
iterations) is skipped, any other resumes from its last checkpoint, so a
killed sweep continues where it stopped when it is started again with the
same arguments. ``sweep.json`` (written atomically after every run) lists the
runs, their status, paths and results.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from ..errors import ConfigError
from ..methods import is_fixed_path
from .estimate import StepCost, format_duration, gpu_table_note, step_costs
from .executors import LocalExecutor, available_cores
from .expand import Plan, RunSpec, expand
from .schema import Experiment, load_experiment
from .state import (CONFLICT, DONE, FAILED, PARTIAL, PENDING, RUNNING, STARTED, RunState, SweepLock,
                    check_budget_matches, read_attempts, run_state, write_index)


@dataclass
class SweepSummary:
    out: Path
    plan: Plan
    states: dict[str, RunState]
    estimate_seconds: float | None
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    index: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and all(s.status == DONE for s in self.states.values())


def default_out(experiment: Experiment) -> Path:
    return Path("runs") / experiment.name


def plan_sweep(experiment: str | Path | Experiment, budget: str, *, only=None, tier=None, k_cpt=None,
               exits=None) -> Plan:
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    return expand(experiment, budget, only=only, tier=tier, k_cpt=k_cpt, exits=exits)


def run_sweep(experiment: str | Path | Experiment, budget: str, *, out: str | Path | None = None,
              only=None, tier: int | None = None, k_cpt=None, executor=None, data_dir: str | None = None,
              dry_run: bool = False, estimate: str = "table", stream: TextIO | None = None,
              plan: Plan | None = None) -> SweepSummary:
    """Run (or, with ``dry_run``, only plan and estimate) a sweep; see the module docstring."""
    stream = stream or sys.stdout
    say: Callable[[str], None] = lambda text="": print(text, file=stream, flush=True)  # noqa: E731
    plan = plan or plan_sweep(experiment, budget, only=only, tier=tier, k_cpt=k_cpt)
    exp = plan.experiment
    out = Path(out) if out else default_out(exp)
    executor = executor or LocalExecutor()
    if not plan.runs:
        raise ConfigError(f"the selection leaves no runs of experiment {exp.name!r} "
                          f"(groups: {', '.join(exp.group_names())}; tiers: "
                          f"{sorted({g.tier for g in exp.groups if g.tier}) or 'none'})")
    if out.exists():
        check_budget_matches(out, plan.budget.name, exp.name)

    states = {run.id: run_state(out / run.id, run) for run in plan.runs}
    todo = [run for run in plan.runs if states[run.id].status in (PENDING, STARTED, PARTIAL)]
    conflicts = [run for run in plan.runs if states[run.id].status == CONFLICT]
    done = [run for run in plan.runs if states[run.id].status == DONE]

    say(f"{exp.name}: {_selection_text(plan)} -> {len(plan.runs)} runs: {len(done)} done, "
        f"{sum(states[r.id].status == PARTIAL for r in plan.runs)} partial (resume from checkpoint), "
        f"{sum(states[r.id].status in (PENDING, STARTED) for r in plan.runs)} to start"
        + (f", {len(conflicts)} in conflict" if conflicts else ""))
    say(plan.budget.describe())
    if plan.selection.get("k_cpt_outside_set"):
        say(f"note: k_cpt {', '.join(f'{k:g}' for k in plan.selection['k_cpt_outside_set'])} not in the "
            f"experiment's k_cpt_set; only groups that list them explicitly run them")
    say(f"output: {out}/   executor: {executor.describe()}")

    # local: machine-seconds of this machine; elsewhere: of the reference machine
    cores = available_cores() if executor.name == "local" else exp.model.reference_cores
    threads = getattr(executor, "threads", 1)
    costs = step_costs(plan.runs, out, table=exp.model.seconds_per_step, reference_cores=exp.model.reference_cores,
                       cores=cores, measure=estimate == "measure", threads=threads,
                       todo={r.id for r in todo}) if estimate != "none" else {}
    total = _print_estimate(say, plan, states, costs, todo, exp, executor, cores)
    note = gpu_table_note(todo, costs) if executor.name == "local" else None
    if note:
        say(note)
    for run in conflicts:
        say(f"  conflict: {states[run.id].note}; left alone")

    summary = SweepSummary(out, plan, states, total, skipped=[r.id for r in done])
    if dry_run:
        _print_runs(say, plan, states)
        return summary

    out.mkdir(parents=True, exist_ok=True)
    header = _header(plan, out, executor)
    entries = {run.id: _entry(run, states[run.id], out) for run in plan.runs}
    by_id = {run.id: run for run in plan.runs}
    with SweepLock(out):
        summary.index = write_index(out, header, entries)
        if not todo:
            say("nothing to do: every selected run is done")
            return summary
        started = time.time()
        finished = [0]
        reported: set[str] = set()

        def on_start(run_id: str) -> None:
            entries[run_id]["status"] = RUNNING
            write_index(out, header, entries)

        def on_result(run_id: str, result: dict | None, error: str | None) -> None:
            run = by_id[run_id]
            reported.add(run_id)
            state = run_state(out / run_id, run)
            if error is None and state.status != DONE:
                error = f"the run finished but its directory is not complete ({state.status}{': ' + state.note if state.note else ''})"
            summary.states[run_id] = state
            entry = entries[run_id] = _entry(run, state, out)
            finished[0] += 1
            elapsed = format_duration(time.time() - started)
            if error is not None:
                entry["status"], entry["error"] = FAILED, error
                summary.failed[run_id] = error
                say(f"[{finished[0]}/{len(todo)}] FAILED {run_id} ({run.describe()}) after {elapsed}: "
                    f"{error.splitlines()[0]}")
            else:
                summary.ran.append(run_id)
                if result.get("recorded_run_id") not in (None, run_id):
                    entry["warning"] = f"train_run recorded run id {result['recorded_run_id']}"
                entry["seconds"] = round(result.get("seconds") or 0.0, 1)
                err, ops = result.get("error_rate"), result.get("mean_ops")
                say(f"[{finished[0]}/{len(todo)}] done {run_id} ({run.describe()}) in "
                    f"{format_duration(result.get('seconds'))}" +
                    (f": error {err:.4f}, {ops:.3g} ops" if err is not None and ops is not None else "") +
                    f" [{elapsed} elapsed]")
            summary.index = write_index(out, header, entries)

        payloads = [{"run": run.to_json(), "out": str(out.resolve()),
                     "data_dir": str(Path(data_dir).resolve()) if data_dir else None} for run in todo]
        try:
            executor.run(payloads, on_result, on_start)
        except KeyboardInterrupt:
            _refresh(todo, reported, entries, summary, out)
            summary.index = write_index(out, header, entries)
            say("interrupted; run the same command again to continue (runs resume from their checkpoints)")
            raise
        _refresh(todo, reported, entries, summary, out)  # runs never reported (e.g. after --fail-fast)
        summary.index = write_index(out, header, entries)
    counts = summary.index.get("counts", {})
    say(f"{exp.name}: {sum(1 for r in plan.runs if summary.states[r.id].status == DONE)}/{len(plan.runs)} selected "
        f"runs done ({len(summary.ran)} this time, {len(summary.failed)} failed) in "
        f"{format_duration(time.time() - started)}; index: {out / 'sweep.json'} "
        f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})")
    return summary


def _refresh(todo, reported, entries, summary, out) -> None:
    for run in todo:
        if run.id not in reported:
            summary.states[run.id] = run_state(out / run.id, run)
            entries[run.id] = _entry(run, summary.states[run.id], out)


# ----------------------------------------------------------------------------- printing
def _selection_text(plan: Plan) -> str:
    sel = plan.selection
    parts = []
    if sel.get("tier") is not None:
        parts.append(f"tier <= {sel['tier']}")
    if sel.get("only"):
        parts.append("only " + ",".join(sel["only"]))
    if sel.get("k_cpt") is not None:
        parts.append("k_cpt " + ",".join(f"{k:g}" for k in sel["k_cpt"]))
    if sel.get("exits") is not None:
        parts.append("static exits " + ",".join(sel["exits"]))
    return "; ".join(parts) if parts else "full sweep"


def _print_estimate(say, plan: Plan, states, costs: dict[str, StepCost], todo: list[RunSpec], exp, executor,
                    cores: int) -> float | None:
    if not costs:
        return None
    if not todo:
        say("estimated duration: 0 s (nothing left to run)")
        return 0.0
    todo_ids = {r.id for r in todo}
    rows, total, unknown, sources = [], 0.0, 0, set()
    for group in plan.groups():
        runs = [r for r in plan.runs if r.group == group]
        pending = [r for r in runs if r.id in todo_ids]
        seconds, group_sources, per_step = 0.0, set(), []
        for run in pending:
            cost = costs.get(run.id)
            remaining = max(run.iterations - states[run.id].iteration, 0)
            if cost is None or cost.seconds is None:
                unknown += 1
                group_sources.add("unknown")
                continue
            seconds += remaining * cost.seconds
            per_step.append(cost.seconds)
            group_sources.add(cost.source)
        sources |= group_sources
        total += seconds
        step = f"{sum(per_step) / len(per_step):.3g}" if per_step else "-"
        rows.append((group, len(runs), len(pending), step, "+".join(sorted(group_sources)) or "-",
                     format_duration(seconds) if pending else "-"))
    width = max(len(r[0]) for r in rows) + 2
    say(f"  {'group':<{width}}{'runs':>5}{'todo':>6}{'s/step':>9}  {'source':<16}{'estimate':>12}")
    for group, n, pending, step, source, duration in rows:
        say(f"  {group:<{width}}{n:>5}{pending:>6}{step:>9}  {source:<16}{duration:>12}")
    described = {"table": f"the seconds_per_step table in {exp.file}",
                 "runs": "training speeds logged by this sweep's runs",
                 "measured": "steps timed just now", "unknown": "no number"}
    how = "; ".join(described[s] for s in ("runs", "measured", "table", "unknown") if s in sources)
    machine = f"this {cores}-core machine" if executor.name == "local" else \
        f"the reference {exp.model.reference_cores}-core machine (divide by the cluster's size)"
    text = (f"estimated duration: {format_duration(total)} on {machine} "
            f"(s/step in machine-seconds, evaluation not counted; from {how})")
    if unknown:
        text += f"; {unknown} run(s) without an estimate (add their spec to seconds_per_step or use --estimate measure)"
    say(text)
    return total


def _print_runs(say, plan: Plan, states) -> None:
    say("runs:")
    for run in plan.runs:
        state = states[run.id]
        extra = f" {state.iteration}/{run.iterations}" if state.status == PARTIAL else ""
        say(f"  {run.id:<22} {state.status:<8}{extra:<12} {run.describe()}")


def _header(plan: Plan, out: Path, executor) -> dict:
    exp = plan.experiment
    return {"experiment": exp.name, "experiment_file": str(exp.file), "description": exp.model.description,
            "paper": exp.model.paper, "budget": plan.budget.to_json(), "selection": plan.selection,
            "executor": executor.to_json(), "out": str(out)}


def _entry(run: RunSpec, state: RunState, out: Path) -> dict:
    entry = {"id": run.id, "path": run.id, "status": state.status, "selected": True, "group": run.group,
             "label": run.label, "tier": run.tier, "method": run.method, "k_cpt": run.k_cpt,
             "static_exit": run.static_exit, "dynamic_k_cpt": run.k_cpt is None and not is_fixed_path(run.method),
             "spec": run.spec, "overrides": run.overrides, "data": run.data,
             "iteration": state.iteration, "iterations": run.iterations}
    if state.error_rate is not None:
        entry["error_rate"], entry["mean_ops"] = state.error_rate, state.mean_ops
    if state.note:
        entry["note"] = state.note
    attempts = read_attempts(out, run.id).get("attempts") or []
    if attempts:
        entry["attempts"] = len(attempts)
    return entry
