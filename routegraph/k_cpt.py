"""k_cpt, the cost per multiply-accumulate: what routers read, what costs use, what training draws.

One home for the three forms k_cpt takes in the package:

* :func:`router_input`: the *scaled* column ``scale * k_cpt`` that the routers of a
  dynamic-k_cpt network read as one extra input feature (in the network's dtype).
  The scale is the compiled graph's ``k_cpt_scale`` (the run's ``k_cpt_input_scale``
  setting, default :data:`K_CPT_INPUT_SCALE` = 1e7, the reference's): k_cpt is
  ~1e-9..1e-7, so unscaled it would be invisible next to the other features.
* :func:`cost_column`: the *unscaled* float64 column the cost functions multiply
  op counts with (``routing/costs.py``, ``routing/targets.py``).
* :class:`KCptSchedule`: the k_cpt of each training example, one fixed value or
  (dynamic k_cpt) drawn uniformly per example from a set. The trainer owns it.

Torch is imported only when a tensor is built, so ``routegraph.graph`` (torch-free)
can take the default scale from here.

>>> router_input(4e-9, K_CPT_INPUT_SCALE, dtype=None).tolist()
[[0.03999999910593033]]
>>> cost_column(4e-9, "cpu").dtype
torch.float64
>>> KCptSchedule(fixed=1e-8).sample(3, None)
1e-08
"""
from __future__ import annotations

from dataclasses import dataclass

from .checks import check_k_cpt
from .errors import ConfigError

#: Routers read ``scale * k_cpt``; the reference (and every saved run) uses 1e7.
K_CPT_INPUT_SCALE = 1e7


def router_input(k_cpt, scale: float, *, dtype, device=None, batch: int | None = None):
    """``[B, 1]`` (one value per example) or ``[1, 1]`` (shared): ``scale * k_cpt`` as the
    routers read it. A number becomes a float32 tensor first and the product is taken in
    the tensor's dtype, then cast to ``dtype`` (None: kept), so the dense network, the
    path-only executor and calibration feed the routers the same bits. ``batch``: refuse
    a per-example column of another length."""
    import torch

    if not torch.is_tensor(k_cpt):
        k_cpt = torch.tensor(float(k_cpt), device=device)
    column = scale * k_cpt
    column = (column if dtype is None else column.to(dtype)).reshape(-1, 1)
    if batch is not None and column.shape[0] not in (1, batch):
        raise ValueError(f"k_cpt has {column.shape[0]} values for a batch of {batch}")
    return column


def k_cpt_to_route(graph, k_cpt):
    """``k_cpt`` checked (:func:`~routegraph.checks.check_k_cpt`; None stays None) to route
    ``graph`` with: required when its routers read it (``graph.k_cpt_input``).

    >>> from types import SimpleNamespace
    >>> k_cpt_to_route(SimpleNamespace(name="net", k_cpt_input=False), None) is None
    True
    >>> k_cpt_to_route(SimpleNamespace(name="net", k_cpt_input=True), None)
    Traceback (most recent call last):
    routegraph.errors.ConfigError: network 'net' reads k_cpt (dynamic k_cpt): pass k_cpt=
    """
    if graph.k_cpt_input and k_cpt is None:
        raise ConfigError(f"network {graph.name!r} reads k_cpt (dynamic k_cpt): pass k_cpt=")
    return None if k_cpt is None else check_k_cpt(k_cpt)


def cost_column(k_cpt, device):
    """``k_cpt`` unscaled, as float64, shaped ``[B, 1]`` (per-example) or ``[1, 1]`` (shared):
    what op counts (exact integers in float64) are multiplied with."""
    import torch

    if not torch.is_tensor(k_cpt):  # a fill, not a copy from host memory (capturable in a CUDA graph)
        return torch.full((1, 1), float(k_cpt), dtype=torch.float64, device=device)
    k = k_cpt.detach().to(device=device, dtype=torch.float64)
    if k.dim() > 1:
        raise ValueError(f"k_cpt must be a number or a [B] tensor, got shape {list(k.shape)}")
    return k.reshape(-1, 1)


@dataclass(frozen=True)
class KCptSchedule:
    """The k_cpt of each training example: ``fixed``, or with ``draws`` (dynamic k_cpt) one
    value per example drawn uniformly from ``draws``.

    One draw per batch would make the routers' k_cpt input constant over the batch, and
    train-mode batch norm after their first layer would then erase it."""

    fixed: float = 0.0
    draws: tuple[float, ...] | None = None

    @classmethod
    def from_config(cls, config) -> "KCptSchedule":
        """The schedule a :class:`~routegraph.train.config.TrainConfig` asks for.

        >>> from routegraph.train.config import TrainConfig
        >>> KCptSchedule.from_config(TrainConfig(dynamic_k_cpt=True, k_cpt_set=(0.0, 1e-8))).draws
        (0.0, 1e-08)
        """
        return cls(draws=tuple(config.k_cpt_set)) if config.dynamic_k_cpt else cls(fixed=config.k_cpt)

    @property
    def dynamic(self) -> bool:
        """Whether k_cpt varies per example (and the routers must read it)."""
        return self.draws is not None

    @property
    def values(self) -> tuple[float, ...]:
        """Every k_cpt the schedule trains at (the draws, or the fixed value): what the run is
        evaluated at in the end; periodic evaluation takes the middle one.

        >>> KCptSchedule(draws=(0.0, 1e-9, 4e-9)).values, KCptSchedule(fixed=2e-9).values
        ((0.0, 1e-09, 4e-09), (2e-09,))
        """
        return self.draws if self.dynamic else (self.fixed,)

    def sample(self, batch_size: int, generator):
        """``[batch_size]`` float32 draws from ``draws`` (dynamic), else the fixed number."""
        if not self.dynamic:
            return self.fixed
        import torch

        values = torch.tensor(self.draws, dtype=torch.float32)
        return values[torch.randint(len(values), (batch_size,), generator=generator)]
