"""The training loop: one loop, swappable strategies, hooks.

>>> trainer = Trainer(model, Actor(), task, config=TrainConfig(k_cpt=4e-9, iterations=100))  # doctest: +SKIP
>>> trainer.fit()                                                                         # doctest: +SKIP

k_cpt is the trainer's: :class:`~routegraph.k_cpt.KCptSchedule` from the config draws it
(fixed, or per example for dynamic k_cpt) and hands it to the model and the strategy's loss.
A network whose routers read k_cpt (``graph.k_cpt_input``) trains only under a dynamic
schedule, and the other way round: a mismatch is an error, never a k_cpt dropped.

Determinism: the batch for iteration t and the dynamic k_cpt draws depend
only on (seed, t), and the model and optimiser state are checkpointed, so a
resumed run reproduces an uninterrupted one exactly.

Fast mode (``config.fast``, the default, on CPUs; see :mod:`routegraph.train.fast`):
channels-last layout, fused multiscale convolutions and heads, glibc malloc
tuning, and (when a core is left over) the next batch prepared in a background
thread during ``fit``. It changes how the step is computed, not what: the same
seed gives the same loss trajectory up to float rounding. ``config.threads``
(0: leave torch's setting, one thread per core by default) sets torch's
intra-op threads when the trainer is built.

Device (``config.device``): ``auto`` trains on a CUDA GPU when there is one,
else on the CPU. Batches are prepared on the CPU (they depend only on
``(seed, t)``) and copied over; checkpoints hold CPU-loadable tensors, so a run
started on a GPU resumes on a CPU and back. On a GPU in one process
(``config.cuda_graph``, the default) the step runs eagerly three times and is then
captured as one CUDA graph and replayed (:mod:`routegraph.train.cuda_graph`): the
same computation, which is why :meth:`Trainer._dense_step` reads no value on the host.
"""
from __future__ import annotations

import math
import time
from typing import Iterable

import torch

from ..errors import CheckpointError, ConfigError, TrainingError
from ..k_cpt import KCptSchedule
from ..nn.precision import as_float, autocast, resolve
from .config import TrainConfig
from .distributed import SINGLE, DistContext, device_type
from .cuda_graph import GraphedStep, sgd_momentum_step
from .fast import BatchPrefetcher, enable_fast_mode, prefetch_pays, tune_malloc
from .hooks import Hook
from .strategies import STAT_NAMES, Strategy


class Trainer:
    def __init__(self, model, strategy: Strategy, data, *, config: TrainConfig | None = None,
                 hooks: Iterable[Hook] = (), dist: DistContext = SINGLE):
        from ..data import BatchStream

        self.model, self.strategy, self.dist = model, strategy, dist
        self.config = config or TrainConfig(method=strategy.name)
        self.k_cpt = KCptSchedule.from_config(self.config)
        check_k_cpt_input(model.graph, self.config)
        # Each rank takes its slice of the same global batch (the batch size stays global).
        self.stream = data if isinstance(data, BatchStream) else BatchStream(
            data, batch_size=self.config.batch_size, seed=self.config.seed, augment=self.config.augment,
            rank=dist.rank, world_size=dist.world_size)
        self.hooks = list(hooks)
        self.iteration = 0
        self._prefetcher = None
        apply_threads(self.config.threads)
        self.device = resolve_device(self.config.device, dist)
        model.to(self.device)
        # Fast mode is a CPU tuning: on an H200 it measured 1.06-1.15x slower than plain in
        # eager steps, and inside a CUDA graph not reliably faster (docs/benchmarks.md, "On a GPU").
        # A sampled step's shapes depend on the draws, so it cannot be replayed as one CUDA graph.
        graphed = self.config.cuda_graph and self.device.type == "cuda" and not dist.active and not self.config.sampled
        if self.config.fast and self.device.type == "cpu":
            enable_fast_mode(model)
            tune_malloc()
        self.strategy.setup(model)
        self.strategy.dist = dist
        self.precision, self.precision_reason = self._choose_precision()
        if hasattr(self.strategy, "epsilon"):  # the policy's epsilon: a device tensor, refilled every step
            self.strategy.epsilon = torch.zeros((), dtype=torch.float32, device=self.device)
        self._sampler = self._prepare_sampled(model) if self.config.sampled else None
        # Dense training uses every parameter, so DDP needs no unused-parameter search; a sampled step
        # skips branches, and its gradients are all-reduced whole instead (DistContext.average_gradients).
        self.forward = model
        if dist.active and self._sampler is None:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        # The optimizer holds the momentum buffers; the update is sgd_momentum_step's (lr a tensor).
        self.optimizer = torch.optim.SGD(model.parameters(), lr=self.config.lr_at(0), momentum=self.config.momentum)
        self._graphed = None
        if graphed:
            self._graphed = GraphedStep(self._dense_step, warmup=3, tensors=[*model.parameters(), *model.buffers()])

    def _prepare_sampled(self, model):
        """The sampled pass (train/sampled.py), with every gradient allocated once, so that a branch no
        example reached in a step gets a zero gradient (its momentum goes on, as in the dense step)."""
        from .sampled import SampledPass

        if not callable(getattr(self.strategy, "sampled_loss", None)):
            raise ConfigError(f"strategy {self.strategy.name!r} cannot train sampled (it has no sampled_loss)")
        if self.dist.active and self.config.sync_batch_norm:
            raise ConfigError("sampled training under torchrun keeps batch-norm statistics per process (each rank's "
                              "branches run on the examples that reached them there, so ranks cannot meet in one "
                              "collective per layer): pass --no-sync-batch-norm")
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        return SampledPass(model)

    def _choose_precision(self) -> tuple[str, str]:
        """``config.precision`` resolved: 'auto' times forward + backward of a copy of the model in
        fp32 and bf16 on the first batch (the copy: the real model's batch-norm statistics stay put)."""
        trial = {}

        def one_pass(precision: str) -> None:
            if not trial:  # made only when 'auto' measures
                import copy

                images = self.stream.batch(0)[0].to(self.device)
                k = self.k_cpt.sample(len(images), torch.Generator().manual_seed(0)) if self.k_cpt.dynamic else None
                trial.update(model=copy.deepcopy(self.model).train(), images=images,
                             k=k.to(self.device) if torch.is_tensor(k) else k)
            with autocast(precision, self.device.type):
                out = trial["model"](trial["images"], trial["k"])
            sum(v.float().sum() for v in out.logits.values()).backward()
            if self.device.type == "cuda":
                torch.cuda.synchronize()

        return resolve(self.config.precision, self.model, self.config.batch_size, one_pass,
                       f"train|fast={self.config.fast}")

    # -- state -------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "config": self.config.to_json()}

    def load_state_dict(self, state: dict, path="checkpoint") -> None:
        from .checkpoint import load_model_state

        load_model_state(self.model, state, path)
        try:
            self.optimizer.load_state_dict(state["optimizer"])  # new momentum buffers: capture again
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: the optimizer state does not fit this network ({exc})") from None
        self.iteration = int(state["iteration"])
        if self._graphed is not None:
            self._graphed.reset()

    def save(self, path, run: dict | None = None) -> None:
        from .checkpoint import save_checkpoint

        save_checkpoint(path, self, run)

    # -- loop --------------------------------------------------------------
    def fit(self, until: int | None = None) -> "Trainer":
        """Train up to ``config.iterations`` (or stop early at iteration ``until``)."""
        self.model.train()
        stop = self.config.iterations if until is None else min(until, self.config.iterations)
        for hook in self.hooks:
            hook.on_fit_start(self)
        if self.config.fast and stop - self.iteration > 1 and prefetch_pays():
            self._prefetcher = BatchPrefetcher(self.stream, stop)
        try:
            while self.iteration < stop:
                stats = self.step()
                if not math.isfinite(stats["loss"]):
                    # stop before any hook runs: the checkpoint on disk keeps the last finite weights
                    raise TrainingError(
                        f"the training loss is {stats['loss']} at iteration {self.iteration + 1}: training "
                        "diverged (try a smaller --lr) or the data holds non-finite values; stopped, and the "
                        "last checkpoint (if any) was kept")
                self.iteration += 1
                for hook in self.hooks:
                    hook.on_step_end(self, stats)
        finally:
            if self._prefetcher is not None:
                self._prefetcher.close()
                self._prefetcher = None
        for hook in self.hooks:
            hook.on_fit_end(self)
        return self

    def step(self) -> dict:
        """One SGD step at ``self.iteration``; returns its statistics."""
        started = time.perf_counter()
        t, config = self.iteration, self.config
        images, labels = self._prefetcher.get(t) if self._prefetcher is not None else self.stream.batch(t)
        if self.device.type != "cpu":
            images, labels = images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
        lr, tau = config.lr_at(t), config.tau_at(t)
        for group in self.optimizer.param_groups:
            group["lr"] = lr  # what the update uses is the tensor below; this keeps state_dict() truthful
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + t)
        k_cpt = self.k_cpt.sample(config.batch_size, generator)  # drawn for the global batch
        mine = slice(self.dist.rank * len(labels), (self.dist.rank + 1) * len(labels))  # this rank's rows of it
        if torch.is_tensor(k_cpt):
            if self.dist.active:
                k_cpt = k_cpt[mine]
            k_cpt = k_cpt.to(self.device)
        else:  # float64 as the cost functions hold it, on the device: the step reads no host value
            k_cpt = torch.full((), float(k_cpt), dtype=torch.float64, device=self.device)
        scalar = dict(dtype=torch.float32, device=self.device)
        if hasattr(self.strategy, "epsilon"):
            self.strategy.epsilon.fill_(config.epsilon_at(t))
        lr_tau = torch.full((), lr, **scalar), torch.full((), tau, **scalar)
        if self._sampler is not None:  # each example's uniform draws: from (seed, t) only, sliced per rank
            uniforms = torch.rand(config.batch_size, max(len(self.model.graph.junctions), 1), generator=generator)
            uniforms = uniforms[mine].to(self.device)
            values = self._sampled_step(images, labels, k_cpt, *lr_tau, uniforms).tolist()
        else:
            step = self._graphed if self._graphed is not None else self._dense_step
            values = step(images, labels, k_cpt, *lr_tau).tolist()
        seconds = time.perf_counter() - started  # .tolist() waited for the device
        return {**dict(zip(("loss",) + STAT_NAMES, values)), "tau": tau, "lr": lr,
                "examples_per_s": len(labels) * self.dist.world_size / seconds}

    def _dense_step(self, images, labels, k_cpt, lr, tau) -> torch.Tensor:
        """Forward, loss, backward, TALR and the SGD update, with no host sync (so that
        it can be captured in a CUDA graph); returns ``[loss, *STAT_NAMES]``."""
        with autocast(self.precision, self.device.type):
            out = self.forward(images, k_cpt if self.k_cpt.dynamic else None)  # (checked: the routers read it)
        if self.precision != "fp32":  # losses, routing probabilities, TALR and costs in fp32
            out = as_float(out)
        result = self.strategy.loss(out, labels, k_cpt, tau)
        self.optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        self.strategy.after_backward(result)
        sgd_momentum_step(self.optimizer, lr)
        return torch.cat([self.dist.mean(result.loss.detach()).view(1), result.stats])

    def _sampled_step(self, images, labels, k_cpt, lr, tau, uniforms) -> torch.Tensor:
        """A sampled step (train/sampled.py): each example runs, forward and backward, only the path it
        draws; then the gradients (all-reduced whole under torchrun), TALR and the SGD update."""
        def choose(junction, scores, path_p):
            return self.strategy.junction_policy(junction, scores, path_p, tau)

        with autocast(self.precision, self.device.type):
            run = self._sampler(images, k_cpt if self.k_cpt.dynamic else None, uniforms, choose)
        result = self.strategy.sampled_loss(run, labels, k_cpt)
        self.optimizer.zero_grad(set_to_none=False)
        result.loss.backward()
        if self.dist.active:
            self.dist.average_gradients(self.model.parameters())
        self.strategy.after_backward(result)
        sgd_momentum_step(self.optimizer, lr)
        return torch.cat([self.dist.mean(result.loss.detach()).view(1), result.stats])


def check_k_cpt_input(graph, config: TrainConfig) -> None:
    """Refuse a network whose routers' k_cpt input does not match the config's k_cpt settings:
    a dynamic schedule for routers that cannot read k_cpt (or the other way round), or another
    input scale than the network was compiled with.

    >>> from types import SimpleNamespace
    >>> fixed_net = SimpleNamespace(name="net", k_cpt_input=False)
    >>> check_k_cpt_input(fixed_net, TrainConfig(k_cpt=1e-8))
    >>> check_k_cpt_input(fixed_net, TrainConfig(dynamic_k_cpt=True))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    routegraph.errors.ConfigError: network 'net' does not read k_cpt, but ... dynamic_k_cpt=True: ...
    """
    if graph.k_cpt_input != config.dynamic_k_cpt:
        reads = "reads k_cpt (compiled with k_cpt_input)" if graph.k_cpt_input else "does not read k_cpt"
        raise ConfigError(f"network {graph.name!r} {reads}, but the training settings have "
                          f"dynamic_k_cpt={config.dynamic_k_cpt}: compile the spec with "
                          f"k_cpt_input={config.dynamic_k_cpt}, or change dynamic_k_cpt")
    if graph.k_cpt_input and graph.k_cpt_scale != config.k_cpt_input_scale:
        raise ConfigError(f"network {graph.name!r} was compiled with k_cpt_scale={graph.k_cpt_scale:g}, but the "
                          f"training settings have k_cpt_input_scale={config.k_cpt_input_scale:g}")


def apply_threads(threads: int = 0) -> int:
    """Set torch's intra-op threads to ``threads``; 0 leaves the process's setting alone
    (torch's default: one per core; the sweep executor sets ``cores // jobs`` per worker).
    Returns the number in use.

    See docs/training.md ("Speed") for the measured effect of 1 vs. 2 threads and of
    two trainings at once."""
    if threads and torch.get_num_threads() != int(threads):
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def resolve_device(name: str = "auto", dist: DistContext = SINGLE) -> torch.device:
    """The torch device for ``TrainConfig.device``: ``auto`` is a CUDA GPU when torch
    sees one, else the CPU. Under torchrun every process takes ``cuda:LOCAL_RANK``
    (modulo the GPU count: processes beyond it share GPUs).

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    device = torch.device(device_type(name) if name == "auto" else name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: torch sees no CUDA GPU here (use auto or cpu)")
        count = torch.cuda.device_count()
        if dist.active:
            if device.index is not None:
                raise ConfigError(f"device {name!r}: under torchrun each process trains on cuda:LOCAL_RANK; "
                                  "pass --device cuda (or auto)")
            device = torch.device("cuda", dist.local_rank % count)
        elif (device.index or 0) >= count:
            raise ConfigError(f"device {name!r}: torch sees {count} CUDA GPU(s)")
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv algorithms once
    return device
