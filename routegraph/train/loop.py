"""The training loop: one loop, swappable strategies, hooks.

>>> trainer = Trainer(model, Actor(k_cpt=4e-9), task, config=TrainConfig(iterations=100))  # doctest: +SKIP
>>> trainer.fit()                                                                         # doctest: +SKIP

Determinism: the batch for iteration t and the dynamic k_cpt draws depend
only on (seed, t), and the model and optimiser state are checkpointed, so a
resumed run reproduces an uninterrupted one exactly.
"""
from __future__ import annotations

import time
from typing import Iterable

import torch

from .config import TrainConfig
from .hooks import Hook
from .strategies import Strategy


class Trainer:
    def __init__(self, model, strategy: Strategy, data, *, config: TrainConfig | None = None,
                 hooks: Iterable[Hook] = ()):
        from ..data import BatchStream

        self.model, self.strategy = model, strategy
        self.config = config or TrainConfig(method=strategy.name)
        self.stream = data if isinstance(data, BatchStream) else BatchStream(
            data, batch_size=self.config.batch_size, seed=self.config.seed, augment=self.config.augment)
        self.hooks = list(hooks)
        self.iteration = 0
        self.strategy.setup(model)
        self.optimizer = torch.optim.SGD(model.parameters(), lr=self.config.lr_at(0), momentum=self.config.momentum)

    # -- state -------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "config": self.config.to_json()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])

    def save(self, path) -> None:
        from .checkpoint import save_checkpoint

        save_checkpoint(path, self)

    # -- loop --------------------------------------------------------------
    def fit(self, until: int | None = None) -> "Trainer":
        """Train up to ``config.iterations`` (or stop early at iteration ``until``)."""
        self.model.train()
        stop = self.config.iterations if until is None else min(until, self.config.iterations)
        for hook in self.hooks:
            hook.on_fit_start(self)
        while self.iteration < stop:
            stats = self.step()
            self.iteration += 1
            for hook in self.hooks:
                hook.on_step_end(self, stats)
        for hook in self.hooks:
            hook.on_fit_end(self)
        return self

    def step(self) -> dict:
        """One SGD step at ``self.iteration``; returns its statistics."""
        started = time.perf_counter()
        t, config = self.iteration, self.config
        images, labels = self.stream.batch(t)
        lr, tau = config.lr_at(t), config.tau_at(t)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + t)
        k_cpt = self.strategy.sample_k_cpt(len(labels), generator)
        out = self.model(images, k_cpt if self.model.graph.k_cpt_input else None)
        result = self.strategy.loss(out, labels, k_cpt, tau)
        self.optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        self.strategy.after_backward(result)
        self.optimizer.step()
        seconds = time.perf_counter() - started
        return {"loss": result.loss.item(), **result.stats, "tau": tau, "lr": lr,
                "examples_per_s": len(labels) / seconds}
