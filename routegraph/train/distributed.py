"""Data-parallel training with torchrun: process groups, global batch norm, global means.

``torchrun --nproc-per-node 2 -m routegraph train SPEC ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``; :func:`context_from_env`
joins the process group. On GPUs each process trains on ``cuda:LOCAL_RANK``
(modulo the node's GPU count) and the backend is NCCL; on CPUs, or when
processes share a GPU (NCCL refuses that), it is gloo (:func:`choose_backend`).
The batch size stays global: every rank
takes its slice of the same global batch, so 1 process and N processes see
the same examples and the learning-rate rule needs no change.

Statistics that the dense reference computes over the whole batch stay
global here:

- batch norm: :class:`GlobalBatchNorm` all-reduces the per-rank mean and mean
  of squares (differentiably), because ``torch.nn.SyncBatchNorm`` refuses CPU
  tensors; ``sync_batch_norm=False`` keeps per-rank statistics instead (faster,
  not equal to one process; measured in docs/scale-out.md);
- TALR's ``mean_b p^2`` and the logged routing statistics: all-reduced means.

Only rank 0 writes logs, metrics, checkpoints and evaluations.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .config import DIST_BACKENDS


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean over ranks of a per-rank mean (equal local batch sizes)."""
        if not self.active:
            return tensor
        tensor = tensor.detach().clone()
        dist.all_reduce(tensor)
        return tensor / self.world_size

    def average_gradients(self, parameters) -> None:
        """Every parameter's gradient averaged over the ranks, as one flat all-reduce (a sampled step
        leaves some branches without examples on some ranks: their zero gradients are averaged too)."""
        grads = [p.grad for p in parameters if p.grad is not None]
        if not self.active or not grads:
            return
        flat = torch._utils._flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= self.world_size
        for grad, averaged in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
            grad.copy_(averaged)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


SINGLE = DistContext()


def choose_backend(requested: str, device_type: str, local_processes: int, gpus: int) -> str:
    """The process-group backend for ``requested`` (``TrainConfig.dist_backend``).

    ``auto`` is NCCL when every process on the node has a GPU of its own, else
    gloo (CPUs, or processes sharing a GPU, which NCCL refuses).

    >>> choose_backend("auto", "cpu", local_processes=2, gpus=0)
    'gloo'
    >>> choose_backend("auto", "cuda", local_processes=2, gpus=2)
    'nccl'
    >>> choose_backend("auto", "cuda", local_processes=2, gpus=1)
    'gloo'
    """
    if requested not in DIST_BACKENDS:
        raise ConfigError(f"dist_backend must be one of {', '.join(DIST_BACKENDS)}, got {requested!r}")
    if requested == "gloo":
        return "gloo"
    if device_type != "cuda":
        if requested == "nccl":
            raise ConfigError("dist_backend nccl trains on CUDA GPUs only (use --device cuda, or gloo on CPUs)")
        return "gloo"
    if local_processes > gpus:
        if requested == "nccl":
            raise ConfigError(f"dist_backend nccl needs one GPU per process: {local_processes} processes on this "
                              f"node, {gpus} GPU(s) (use fewer processes, or --dist-backend gloo to share GPUs)")
        return "gloo"
    return "nccl"


def device_type(name: str) -> str:
    """``cuda`` or ``cpu``: where ``TrainConfig.device`` ``name`` trains (``auto`` is a
    CUDA GPU when torch sees one)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if name.startswith("cuda") else "cpu"


def context_from_env(backend: str = "auto", device: str = "auto") -> DistContext:
    """Join the torchrun process group if ``WORLD_SIZE`` > 1, else a single-process context.

    ``device`` is ``TrainConfig.device``; it decides the backend with ``backend``
    (see :func:`choose_backend`)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    kind = device_type(device)
    gpus = torch.cuda.device_count() if kind == "cuda" else 0
    name = choose_backend(backend, kind, local_processes, gpus)
    if name == "nccl":
        torch.cuda.set_device(local_rank % gpus)  # NCCL binds each process to its current device
    if not dist.is_initialized():
        dist.init_process_group(name)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend())


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) that back-propagates: every rank's loss depends on the sum, so the
    input's gradient is the sum of the ranks' output gradients. (torch's own
    ``torch.distributed.nn.functional.all_reduce`` is deprecated as of 2.13.)"""

    @staticmethod
    def forward(ctx, tensor):
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics span every rank's slice of the batch.

    Same parameters and buffers as ``BatchNorm1d/2d`` (checkpoints are
    interchangeable); in eval mode it is plain batch norm.
    """

    def _check_input_dim(self, input):
        if input.dim() not in (2, 4):
            raise ValueError(f"expected a 2-D or 4-D input, got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                self.training, self.momentum, self.eps)
        world = dist.get_world_size()
        dims = [0] + list(range(2, x.dim()))
        local = torch.cat([x.mean(dims), (x * x).mean(dims)])
        stats = _SumOverRanks.apply(local) / world
        mean, mean_sq = stats.chunk(2)
        var = mean_sq - mean * mean
        shape = [1, -1] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        with torch.no_grad():
            n = x.numel() // x.shape[1] * world
            self.running_mean.mul_(1 - self.momentum).add_(mean.detach(), alpha=self.momentum)
            self.running_var.mul_(1 - self.momentum).add_(var.detach() * n / max(n - 1, 1), alpha=self.momentum)
            self.num_batches_tracked.add_(1)
        return y


def globalize_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm1d/2d in place by a :class:`GlobalBatchNorm` with the same state."""
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            replacement = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                          child.track_running_stats)
            replacement.load_state_dict(child.state_dict())
            setattr(module, name, replacement)
        else:
            globalize_batch_norm(child)
    return module
