"""Data-parallel training with torchrun: process groups, global batch norm, global means.

``torchrun --nproc-per-node 2 -m routegraph train SPEC ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`context_from_env` joins the process
group (gloo: multi-process training runs on CPUs; GPUs train one process
each, see ``train.loop.resolve_device``). The batch size stays global: every rank
takes its slice of the same global batch, so 1 process and N processes see
the same examples and the learning-rate rule needs no change.

Statistics that the dense reference computes over the whole batch stay
global here:

- batch norm: :class:`GlobalBatchNorm` all-reduces the per-rank mean and mean
  of squares (differentiably), because ``torch.nn.SyncBatchNorm`` refuses CPU
  tensors;
- TALR's ``mean_b p^2`` and the logged routing statistics: all-reduced means.

Only rank 0 writes logs, metrics, checkpoints and evaluations.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

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

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


SINGLE = DistContext()


def context_from_env(backend: str | None = None) -> DistContext:
    """Join the torchrun process group if ``WORLD_SIZE`` > 1, else a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    if not dist.is_initialized():
        dist.init_process_group(backend or "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


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
        stats = dist_fn.all_reduce(local) / world
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
