"""Train a run directory end to end: spec -> compiled graph -> model -> fit -> evaluate.

This is what ``routegraph train`` and the sweep runner call.

>>> result = train_run("specs/tiny_chain.yaml", "runs/demo", TrainConfig(method="actor", k_cpt=1e-8, iterations=200))  # doctest: +SKIP
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, ConfigError
from ..k_cpt import KCptSchedule
from ..kinds.registry import import_records
from ..methods import get_method
from ..runs import CHECKPOINT, METRICS, RUN_FORMAT, SPEED_ONLY, run_id, write_compiled, write_config, write_evaluations
from .config import TrainConfig
from .rundir import run_lock


@dataclass
class RunResult:
    path: Path
    config: dict
    evaluations: list[dict]


# What a checkpoint written before a setting existed was trained with, where that differs from
# today's default: before the validation split, every training image was trained on.
LEGACY = {"val_fraction": 0.0}


def prepare_graph(spec_path, overrides: dict, config: TrainConfig, num_classes: int):
    """Load and compile the spec; derive the static baseline for static runs."""
    from ..graph import compile_spec, static_baseline
    from ..graph.static import static_classifier
    from ..spec import load_spec

    overrides = dict(overrides or {})
    spec = load_spec(spec_path, overrides)
    if "num_classes" in spec.params and "num_classes" not in overrides and spec.params["num_classes"] != num_classes:
        overrides["num_classes"] = num_classes  # follow the task unless the user pinned it
        spec = load_spec(spec_path, overrides)
    graph = compile_spec(spec, k_cpt_input=config.dynamic_k_cpt, k_cpt_scale=config.k_cpt_input_scale)
    if graph.num_classes != num_classes:
        raise ConfigError(f"the spec's classifiers output {graph.num_classes} classes but the task has {num_classes}")
    classifier = None
    if get_method(config.method).fixed_path:
        classifier = static_classifier(graph, config.static_classifier)
        graph = static_baseline(graph, classifier)
    return graph, classifier, overrides


def train_run(spec_path, out, config: TrainConfig, *, data: str | None = None, data_dir=None,
              data_options: dict | None = None, overrides: dict | None = None, resume: bool = False,
              progress: bool = True, label: str | None = None, task=None) -> RunResult:
    """Train (or with ``resume`` continue) the run in ``out``; see the module docstring.

    The data: task ``data`` (a name, ``"synthetic"`` by default) loaded with ``data_options``,
    or ``task``, a :class:`~routegraph.data.Task` already in memory (the user's arrays:
    ``Task.from_arrays``). The run records the task's name as its data; commands that reload
    the data (``evaluate``, ``calibrate``) then need ``--data`` unless that name is loadable
    (``npz:PATH`` is).

    >>> import numpy as np
    >>> from routegraph.data import Task
    >>> x, y = np.random.rand(60, 12).astype("float32"), np.arange(60) % 3
    >>> task = Task.from_arrays(x[:48], y[:48], x[48:], y[48:])
    >>> result = train_run("tests/cli/fixtures/mlp_12.yaml", "runs/mlp", TrainConfig(iterations=50),
    ...                    task=task)  # doctest: +SKIP
    >>> result.evaluations[0]["n"]  # doctest: +SKIP
    12

    Rank 0 holds the run directory's lock (:func:`run_lock`) throughout, so a second
    training into the same ``out`` is refused instead of interleaving with this one."""
    from .distributed import context_from_env

    if task is not None and (data is not None or data_options):
        raise ConfigError("train_run: pass either task= or data= (with data_options), not both")
    data = task.name if task is not None else data or "synthetic"
    out = Path(out)
    dist = context_from_env(config.dist_backend, config.device)
    if config.batch_size % dist.world_size:
        raise ConfigError(f"the global batch size {config.batch_size} must be divisible by the {dist.world_size} processes")
    with run_lock(out) if dist.is_main else nullcontext():
        return _train_locked(spec_path, out, config, dist, data=data, data_dir=data_dir, data_options=data_options,
                             overrides=overrides, resume=resume, progress=progress, label=label, task=task)


def _train_locked(spec_path, out: Path, config: TrainConfig, dist, *, data, data_dir, data_options, overrides,
                  resume, progress, label, task) -> RunResult:
    from ..data import load_task
    from ..data.augment import augmentation_record
    from ..data.tasks import task_options_for_input
    from ..nn.model import build_model
    from ..spec import load_spec
    from .checkpoint import FOR_RESUME, load_checkpoint
    from .distributed import globalize_batch_norm
    from .evaluate import evaluate
    from .hooks import Checkpointer, MetricsLogger, PeriodicEvaluation, ProgressBar
    from .loop import Trainer
    from .strategies import strategy_from_config

    checkpoint = out / CHECKPOINT
    if checkpoint.exists() and not resume:
        raise CheckpointError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")
    if config.threads:
        torch.set_num_threads(config.threads)
    if task is None:
        data_options = task_options_for_input(data, data_options, load_spec(spec_path, overrides).input.shape)
        task = load_task(data, data_dir, **(data_options or {}))
    task = task.with_validation(config.val_fraction, config.val_max)
    if config.eval_every and not len(task.rows("val")):
        raise ConfigError(f"eval_every={config.eval_every} evaluates on validation images, but task {task.name!r} "
                          "has no val split and val_fraction is 0; set val_fraction above 0, or eval_every=0")
    graph, classifier, overrides = prepare_graph(spec_path, overrides, config, task.num_classes)
    task.check_input_shape(graph.input_shape.dims, "the spec's input")
    spec_text = Path(spec_path).read_text()
    record = {
        "format": RUN_FORMAT,
        "run_id": run_id(config, spec_text, {"data": data, "data_options": data_options, "overrides": overrides}),
        "method": config.method,
        "label": label or _label(config),
        "spec": str(spec_path),
        "spec_params": graph.params,
        "modules": import_records(graph.nodes),
        "overrides": overrides,
        "static_classifier": classifier,
        "static_layer": graph.params.get("static_layer") if classifier else None,  # layer index, not decisions
        "k_cpt": None if config.dynamic_k_cpt else config.k_cpt,
        "dynamic_k_cpt": config.dynamic_k_cpt,
        "k_cpt_set": list(config.k_cpt_set),
        "data": data,
        "data_options": data_options or {},
        "class_names": list(task.class_names),
        "validation": {"val_fraction": config.val_fraction, "val_max": config.val_max, **task.validation_record()},
        "augmentation": augmentation_record(graph.input_shape.dims, config.augment),
        "seed": config.seed,
        "iterations": config.iterations,
        "world_size": dist.world_size,
        "dist_backend": dist.backend or None,
        "batch_size_per_rank": config.batch_size // dist.world_size,
        "train": config.to_json(),
    }
    run_settings = {k: record[k] for k in RUN_SETTINGS}
    state = None
    if resume and checkpoint.exists():  # checked before anything in out is rewritten
        state = load_checkpoint(checkpoint, FOR_RESUME)
        differences = resume_differences(state, graph, config, run_settings)
        if differences:
            raise CheckpointError(f"{out}: --resume with different settings than the run was started with: "
                                  + "; ".join(differences) + ". Resume with the original settings, or train into "
                                  "another --out")
    elif resume and dist.is_main:  # diverged before the first save, or never started: say so, not silently
        print(f"note: {out} holds no checkpoint.pt yet; --resume starts the run from iteration 0")
    torch.manual_seed(config.seed)
    model = build_model(graph)  # before anything is written: a network too big to build leaves no files
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, record)
        write_compiled(out, graph)
    if dist.active and config.sync_batch_norm:
        globalize_batch_norm(model)  # BN statistics over the global batch, as in one process
    hooks = []
    if dist.is_main:  # only rank 0 writes
        logger = MetricsLogger(out / METRICS, config.log_every)
        hooks = [ProgressBar(disable=not progress), logger,
                 Checkpointer(checkpoint, config.checkpoint_every, run=run_settings)]
        if config.eval_every:  # on validation images: the test split is left to the final evaluation
            sample = validation_indices(len(task.rows("val")), config.eval_examples)
            hooks.append(PeriodicEvaluation(task.view("val")[sample], task.labels("val")[sample],  # rows: read a batch at a time
                                            config.eval_every, logger, k_cpt=_middle_k(config)))
    trainer = Trainer(model, strategy_from_config(config), task, config=config, hooks=hooks, dist=dist)
    if state is not None:
        trainer.load_state_dict(state, checkpoint)
    record["precision"] = {"setting": config.precision, "used": trainer.precision, "reason": trainer.precision_reason}
    if dist.is_main:
        write_config(out, record)  # with the precision 'auto' chose (it is measured on the built trainer)
    trainer.fit()
    evaluations = []
    if dist.is_main:
        evaluations = [evaluate(model, task.test_images, task.test_labels, k, precision=trainer.precision)
                       for k in trainer.k_cpt.values]
        write_evaluations(out, record["run_id"], task.class_names, evaluations)
    dist.barrier()
    return RunResult(out, record, evaluations)


# Settings that do not change what is computed: resuming under other values is fine. The
# schedule is compared as resolved (what the optimiser sees), not as written: more iterations
# continue a run whose half-lives stay put (paper schedule, or half-lives given), but under the
# small schedule they would stretch its half-lives, and the rest would not match the start.
NOT_COMPARED = SPEED_ONLY + ("iterations", "lr", "lr_half_life", "tau", "tau_half_life", "log_every",
                             "eval_every", "eval_examples", "checkpoint_every")
_SCHEDULE_HINT = ("; to train longer under the small schedule, resume with the checkpoint's half-lives given "
                  "(--lr-half-life {lr_half_life:g} --tau-half-life {tau_half_life:g})")
RUN_SETTINGS = ("data", "data_options", "class_names", "validation")  # stored in the checkpoint beside the TrainConfig


def resume_differences(state: dict, graph, config: TrainConfig, run_settings: dict) -> list[str]:
    """What differs between a checkpoint and the run about to resume from it, in ways that change
    the computation: the compiled graph (by fingerprint), the training settings, the data.
    Checkpoints older than format /2 hold no fingerprint or data settings; those are not compared.

    >>> resume_differences({"config": TrainConfig(k_cpt=1e-7).to_json()}, None, TrainConfig(k_cpt=1e-6), {})
    ['k_cpt (1e-07 in the checkpoint, now 1e-06)']
    """
    found = []
    if "graph_sha256" in state and state["graph_sha256"] != graph.fingerprint():
        found.append("the compiled graph (the spec or its parameters changed since the run started)")
    # settings added since: their defaults, or what training did before they existed (LEGACY)
    stored = _plain({**TrainConfig().to_json(), **LEGACY, **(state.get("config") or {})})
    now = _plain(config.to_json())
    for key in sorted(set(stored) | set(now)):
        if key not in NOT_COMPARED and stored.get(key) != now.get(key):
            found.append(f"{key} ({stored.get(key)!r} in the checkpoint, now {now.get(key)!r})")
            if key == "resolved_schedule" and stored.get("iterations") != now.get("iterations"):
                found[-1] += _SCHEDULE_HINT.format(**stored[key])
    stored_run = state.get("run") or {}
    for key in RUN_SETTINGS:
        if key in stored_run and _plain(stored_run[key]) != _plain(run_settings.get(key)):
            found.append(f"{key} ({stored_run[key]!r} in the checkpoint, now {run_settings.get(key)!r})")
    return found


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def validation_indices(count: int, limit: int = 0) -> torch.Tensor:
    """Which of ``count`` validation images the periodic evaluation uses: all of them, or with
    ``limit`` a fixed random sample (seed 0) of that size, in the set's order. Not the
    first ``limit``: a split may be sorted (the hybrid task lists its digits first),
    and its head would then hold only some classes.

    >>> validation_indices(5).tolist()
    [0, 1, 2, 3, 4]
    >>> len(validation_indices(10_000, 2_000))
    2000
    """
    if not limit or limit >= count:
        return torch.arange(count)
    return torch.randperm(count, generator=torch.Generator().manual_seed(0))[:limit].sort().values


def _label(config: TrainConfig) -> str:
    label = config.method
    if config.dynamic_k_cpt:
        label += " (dynamic k_cpt)"
    return label


def _middle_k(config: TrainConfig):
    values = KCptSchedule.from_config(config).values
    return values[len(values) // 2]
