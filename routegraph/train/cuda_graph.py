"""One training step as one CUDA graph (``TrainConfig.cuda_graph``, on by default on GPUs).

The dense step of these networks is small: the 8-layer chain at batch 128 is
~8 GMAC, well under a millisecond of an H100's arithmetic, but it launches
~1,500 kernels, so a GPU step takes 17-33 ms of *host* time in eager PyTorch
(docs/benchmarks.md, "On a GPU"). Captured once and replayed, the whole step
(forward, loss, backward, TALR, SGD update) is a single launch.

Capture needs a step that never reads a device value on the host and never copies
from host memory: the learning rate, temperature and k_cpt are device tensors
(built by :meth:`Trainer.step <routegraph.train.loop.Trainer.step>`), TALR's scales stay on the device
(:meth:`Strategy.after_backward <routegraph.train.strategies.Strategy.after_backward>`),
statistics come back as one tensor, and the SGD update is :func:`sgd_momentum_step`.
The trainer runs that same step eagerly on CPUs and under torchrun, so a graphed
run computes what an eager one does (``tests/train/test_train_cuda_graph.py``
compares them on a GPU, and checks on the CPU that the step is capturable).

>>> step = GraphedStep(dense_step, warmup=3)      # 3 eager calls, then capture, then replays  # doctest: +SKIP
>>> stats = step(images, labels, k_cpt, lr, tau)  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor


@torch.no_grad()
def sgd_momentum_step(optimizer: torch.optim.SGD, lr: Tensor) -> None:
    """``optimizer``'s SGD update (momentum, no dampening, Nesterov or weight decay) with
    the learning rate a 0-d tensor: ``buf = momentum * buf + grad; p -= lr * buf``.

    No host sync, so it can be captured in a CUDA graph. The momentum buffers live
    in ``optimizer.state[p]["momentum_buffer"]`` as torch's SGD keeps them, so
    ``optimizer.state_dict()`` and checkpoints are unchanged; a missing buffer starts
    at zero, which gives torch's first step (``buf = grad``) exactly.

    >>> w = torch.nn.Parameter(torch.ones(2)); w.grad = torch.full((2,), 0.5)
    >>> sgd_momentum_step(torch.optim.SGD([w], lr=0.0, momentum=0.9), torch.tensor(0.1))
    >>> w
    Parameter containing:
    tensor([0.9500, 0.9500], requires_grad=True)
    """
    for group in optimizer.param_groups:
        if group.get("dampening", 0) or group.get("nesterov") or group.get("weight_decay", 0) or group.get("maximize"):
            raise NotImplementedError("sgd_momentum_step covers momentum SGD only (no dampening, nesterov, "
                                      "weight decay or maximize)")
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            continue
        grads = [p.grad for p in params]
        momentum = group["momentum"]
        if momentum:
            buffers = []
            for p in params:
                state = optimizer.state[p]
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buffers.append(state["momentum_buffer"])
            torch._foreach_mul_(buffers, momentum)
            torch._foreach_add_(buffers, grads)
            grads = buffers
        torch._foreach_sub_(params, torch._foreach_mul(grads, lr))


class GraphedStep:
    """Calls ``fn(*inputs)`` eagerly ``warmup`` times (on a side stream, as capture
    requires), then captures it into a CUDA graph; every later call copies its inputs
    into the captured ones and replays the graph.

    ``fn`` must have fixed input shapes, dtypes and devices, no host syncs and no
    host-to-device copies, and must return a tensor. The returned tensor is the
    graph's output buffer: the next replay overwrites it, so clone or read it first.
    ``tensors`` (the model's parameters and buffers) have their version counters
    bumped after each replay, since a replay changes them without PyTorch noticing
    (the inference plan cache, :func:`routegraph.infer.plan_for`, relies on them).
    Call :meth:`reset` after replacing any tensor the graph reads or writes (e.g.
    after loading an optimizer state): the next call captures again.
    """

    def __init__(self, fn: Callable[..., Tensor], *, warmup: int = 3, tensors: Sequence[Tensor] = ()):
        self.fn, self.warmup, self.tensors = fn, int(warmup), list(tensors)
        self.eager_calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._static: list[Tensor] = []
        self._output: Tensor | None = None
        self._side = torch.cuda.Stream()

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def reset(self) -> None:
        self.graph, self._static, self._output, self.eager_calls = None, [], None, 0

    def __call__(self, *inputs: Tensor) -> Tensor:
        if self.graph is None and self.eager_calls < self.warmup:
            self.eager_calls += 1
            return self._on_side_stream(inputs)
        if self.graph is None:
            self._capture(inputs)
        for static, value in zip(self._static, inputs):
            static.copy_(value, non_blocking=True)
        self.graph.replay()
        if self.tensors:
            torch.autograd.graph.increment_version(self.tensors)
        return self._output

    def _on_side_stream(self, inputs) -> Tensor:
        current = torch.cuda.current_stream()
        self._side.wait_stream(current)
        with torch.cuda.stream(self._side):
            output = self.fn(*inputs)
        current.wait_stream(self._side)
        return output

    def _capture(self, inputs) -> None:
        self._static = [value.clone() for value in inputs]
        graph = torch.cuda.CUDAGraph()
        # thread_local: the batch prefetcher's thread may run CPU ops meanwhile.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._output = self.fn(*self._static)
        self.graph = graph
