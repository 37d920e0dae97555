"""Numeric precision of training and inference: ``fp32``, ``bf16`` (autocast) or ``auto`` (measured).

``bf16`` runs the network's matrix products and convolutions under ``torch.autocast`` in
bfloat16; what autocast keeps in float32 stays there (batch-norm statistics, reductions), and
everything after the network (logits and router scores, the losses, the routing probabilities,
TALR, the cost terms, the argmax decisions) is computed from float32 copies (:func:`as_float`).
Operation counts are unchanged: a multiply-accumulate is one whatever its precision.

``auto`` times a few passes of both on this machine, network and batch size once, caches the
choice (``<user cache>/precision.json``), and never picks bf16 where the hardware has no native
bfloat16 (:func:`native_bf16`): emulated bf16 is slower than fp32.

>>> choose("fp32", "cpu", measure=None, key="k")
('fp32', 'asked for')
>>> with autocast("fp32", "cpu"):
...     torch.ones(2, 2) @ torch.ones(2, 2)
tensor([[2., 2.],
        [2., 2.]])
"""
from __future__ import annotations

import hashlib
import json
import platform
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch

from ..checks import PRECISIONS
from ..errors import ConfigError

#: ``auto`` picks bf16 only when it is at least this much faster (measurement noise is a few percent).
AUTO_MARGIN = 1.05
CACHE_NAME = "precision.json"


def check_precision(value: str) -> str:
    if value not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((l for l in text.splitlines() if l.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def native_bf16(device_type: str = "cpu") -> bool:
    """Whether ``device_type`` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX-BF16 (read from /proc/cpuinfo; elsewhere: no)."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def machine() -> str:
    """This CPU in words, with the ISA flags that decide bf16 speed ("AMD EPYC ... avx512_bf16")."""
    name = platform.processor() or platform.machine()
    try:
        name = next(l.partition(":")[2].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                    if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = sorted(_cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    return f"{name} ({', '.join(flags) or 'no AVX-512'})"


def autocast(precision: str, device_type: str = "cpu"):
    """A context that runs the network in ``precision`` ('fp32' or 'bf16', not 'auto')."""
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision != "fp32":
        raise ConfigError(f"precision {precision!r} must be resolved to fp32 or bf16 first (choose())")
    return nullcontext()


def as_float(out):
    """``out`` (a :class:`~routegraph.nn.model.DenseOutput`) with float32 logits and scores."""
    from dataclasses import replace

    return replace(out, logits={k: v.float() for k, v in out.logits.items()},
                   scores={k: v.float() for k, v in out.scores.items()})


def _cache_path() -> Path:
    from ..data.paths import user_cache_dir

    return user_cache_dir() / CACHE_NAME


def _read_cache() -> dict:
    try:
        data = json.loads(_cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def choose(precision: str, device_type: str, *, measure: Callable[[str], float] | None, key: str,
           cache: bool = True) -> tuple[str, str]:
    """The precision to run (``fp32`` or ``bf16``) and why, for the setting ``precision``.

    ``auto``: fp32 without native bf16; else the cached choice for this machine and ``key`` (the
    network and batch size), else ``measure(p)`` (seconds per pass in precision ``p``) decides,
    and the choice is cached.
    """
    check_precision(precision)
    if precision != "auto":
        return precision, "asked for"
    if not native_bf16(device_type):
        return "fp32", f"auto: no native bfloat16 on {machine() if device_type == 'cpu' else device_type}"
    full_key = hashlib.sha256(f"{machine()}|{torch.__version__}|{device_type}|{key}".encode()).hexdigest()[:16]
    cached = _read_cache().get(full_key) if cache else None
    if cached in ("fp32", "bf16"):
        return cached, "auto: measured earlier on this machine (cached)"
    if measure is None:
        return "fp32", "auto: nothing to measure"
    fp32, bf16 = measure("fp32"), measure("bf16")
    chosen = "bf16" if fp32 >= AUTO_MARGIN * bf16 else "fp32"
    if cache:
        from ..io import atomic_write_json

        data = _read_cache()
        data[full_key] = chosen
        try:
            _cache_path().parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(_cache_path(), data)
        except OSError:
            pass  # an unwritable cache only costs a measurement next time
    return chosen, f"auto: measured fp32 {fp32 * 1e3:.1f} ms, bf16 {bf16 * 1e3:.1f} ms per pass"


def resolve(precision: str, model, batch: int, run: Callable[[str], object], what: str) -> tuple[str, str]:
    """``(precision, why)``: the setting ``precision`` as fp32 or bf16 for ``what`` ("train", "route",
    "evaluate", ...) of ``model`` on batches of ``batch``; 'auto' times ``run(p)`` (one pass in
    precision ``p``) for both, once per machine (:func:`choose`)."""
    graph = model.graph
    first = next(model.parameters(), None)
    device = first.device.type if first is not None else "cpu"
    key = f"{what}|{graph.name}|{graph.total_ops}|{tuple(graph.input_shape.dims)}|{batch}|{torch.get_num_threads()}"
    return choose(precision, device, measure=lambda p: time_passes(lambda: run(p), passes=2), key=key)


def time_passes(run: Callable[[], object], passes: int = 3) -> float:
    """The fastest of ``passes`` timed calls of ``run`` after one warm-up, in seconds."""
    import time

    run()
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best
