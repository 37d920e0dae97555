"""Training fast mode (``TrainConfig.fast``, on by default; ``--no-fast`` turns it off).

Everything here changes how the dense step is computed, never what it computes:
the loss trajectory of a fast run matches the plain run's up to float rounding
(``tests/train/test_train_fast_mode.py``). Measured on the 2-core CPU this project
runs on (``benchmarks/train_step.py``, ``docs/benchmarks.md``), what pays is:

- **channels-last** weights and activations: oneDNN convolutions, batch norm and
  max pooling all run faster in NHWC than in NCHW on these small-channel maps;
- **fused multiscale convolutions** (:attr:`MultiscaleConv.fused
  <routegraph.nn.layers.MultiscaleConv>`): the lateral conv of scale ``t`` plus the
  vertical conv of ``maxpool(output_{t-1})`` run as one conv over the
  channel-concatenation with the weights concatenated along input channels (same
  multiply-accumulates, one kernel instead of two plus an add); ReLU in place;
- **fused heads** (:attr:`RoutedNetwork.fused_heads <routegraph.nn.model.RoutedNetwork>`):
  the classifier and the routers' first linear layers reading one descriptor run
  as one matmul;
- **batch prefetch** (:class:`BatchPrefetcher`), only when torch uses fewer threads
  than there are cores (:func:`prefetch_pays`): the batch of iteration ``t + 1`` is
  prepared in a background thread while step ``t`` runs. ``BatchStream.batch(t)``
  depends only on ``(seed, t)``, so prefetching cannot change the batches. With
  every core busy in the step it costs more than it saves (the thread takes a core
  from an OpenMP team, whose barrier then waits for it; measured 2-8% slower at 2
  threads on 2 cores), and a batch takes only ~1% of a step anyway;
- **malloc tuning** (:func:`tune_malloc`, glibc only): freed activation memory is
  kept for the next step instead of being returned to the OS and faulted in again.

Parameters keep their names and shapes (checkpoints are interchangeable between
the modes); ``lateral``/``vertical``/``norms`` of a multiscale conv are unchanged.

``torch.compile`` was measured and is *not* used: see docs/benchmarks.md
("Training step") for the numbers and why.
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import torch
from torch import nn

def enable_fast_mode(model: nn.Module, enabled: bool = True, *, channels_last: bool = True,
                     fused_convs: bool = True, fused_heads: bool = True) -> nn.Module:
    """Switch ``model`` (a :class:`~routegraph.nn.model.RoutedNetwork`, or anything holding
    multiscale convs) to the fast dense computation, or back (``enabled=False``).

    In place; returns ``model``. Parameters stay the same objects (an optimizer built
    before or after keeps working); only their memory layout changes, so call it
    before wrapping the model in ``DistributedDataParallel`` (whose gradient buckets
    follow the parameters' layout). A wrapper's ``.module`` is switched too.
    """
    from ..nn.layers import MultiscaleConv

    inner = getattr(model, "module", model)
    layout = torch.channels_last if enabled and channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    for module in model.modules():
        if isinstance(module, MultiscaleConv):
            module.fused = bool(enabled and fused_convs)
    if hasattr(inner, "fused_heads"):
        inner.fused_heads = bool(enabled and fused_heads)
    if hasattr(inner, "channels_last"):
        inner.channels_last = bool(enabled and channels_last)
    return model


def fast_mode_of(model: nn.Module) -> dict[str, bool]:
    """Which fast-mode switches ``model`` has on."""
    from ..nn.layers import MultiscaleConv

    inner = getattr(model, "module", model)
    convs = [m.fused for m in model.modules() if isinstance(m, MultiscaleConv)]
    return {"channels_last": bool(getattr(inner, "channels_last", False)),
            "fused_convs": bool(convs) and all(convs),
            "fused_heads": bool(getattr(inner, "fused_heads", False))}


class BatchPrefetcher:
    """Prepares ``stream.batch(t + 1)`` in one background thread while step ``t`` runs.

    ``get(t)`` returns ``stream.batch(t)`` (the prefetched one when it was asked for,
    else computed here) and starts on ``t + 1`` if ``t + 1 < stop``. Only one call
    to ``stream.batch`` is ever in flight, so the stream needs no locking. Close it
    (or use it as a context manager) to stop the thread.
    """

    def __init__(self, stream, stop: int):
        self.stream, self.stop = stream, stop
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routegraph-prefetch")
        self._pending: tuple[int, Future] | None = None

    def get(self, t: int):
        batch = None
        if self._pending is not None:
            ahead, future = self._pending
            self._pending = None
            if ahead == t:
                batch = future.result()
            else:  # wait anyway, so that two batch() calls never overlap
                try:
                    future.result()
                except Exception:  # a failed prefetch of a batch nobody asked for is not an error
                    pass
        if batch is None:
            batch = self.stream.batch(t)
        if t + 1 < self.stop:
            self._pending = (t + 1, self._pool.submit(self.stream.batch, t + 1))
        return batch

    def close(self) -> None:
        if self._pending is not None:
            self._pending[1].cancel()
            try:
                self._pending[1].result()
            except Exception:  # a failed prefetch of a batch nobody asked for is not an error
                pass
            self._pending = None
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "BatchPrefetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def prefetch_pays() -> bool:
    """Prefetch batches only when a core is left over by torch's intra-op threads."""
    return torch.get_num_threads() < available_cores()


_MALLOC_TUNED = threading.Event()


def tune_malloc(mmap_threshold: int = 1 << 30, trim_threshold: int = (1 << 31) - 1) -> bool:
    """Keep freed activation memory in the heap (glibc ``mallopt``): large tensors are
    otherwise ``mmap``-ed and ``munmap``-ed every step and their pages faulted in (and
    zeroed by the kernel) again, ~5,000 page faults per step of the 8-layer chain.
    Process-wide and once; a no-op (False) where glibc is not the allocator or when
    ``ROUTEGRAPH_NO_MALLOC_TUNING`` is set."""
    if _MALLOC_TUNED.is_set():
        return True
    if os.environ.get("ROUTEGRAPH_NO_MALLOC_TUNING"):
        return False
    ok = _mallopt(mmap_threshold, trim_threshold)
    if ok:
        _TUNED_VALUES[:] = [mmap_threshold, trim_threshold]
        _MALLOC_TUNED.set()
    return ok


_TUNED_VALUES: list[int] = []
GLIBC_DEFAULT = 128 << 10  # glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD before any tuning


@contextmanager
def heap_untuned():
    """Undo :func:`tune_malloc` for the duration: large blocks are ``mmap``-ed and returned when
    freed. For evaluation, whose many 500-image batches otherwise fragment the never-trimmed heap,
    so that the anonymous memory of a run crept up with the size of the split evaluated (measured:
    a peak RssAnon of 403 MiB at 6,000 images, 500-549 MiB at 30,000; 442 MiB at both untuned).

    >>> with heap_untuned():
    ...     pass
    """
    if not _MALLOC_TUNED.is_set():
        yield
        return
    _mallopt(GLIBC_DEFAULT, GLIBC_DEFAULT)
    try:
        yield
    finally:
        _mallopt(*_TUNED_VALUES)


def _mallopt(mmap_threshold: int, trim_threshold: int) -> bool:
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, int(mmap_threshold))) and bool(mallopt(m_trim_threshold, int(trim_threshold)))
