"""Bounds of numeric settings: one check for the Python API and the command line.

A :class:`Bound` says which numbers a setting accepts (integer or float,
finite, a lower and upper limit). :class:`~routegraph.train.config.TrainConfig`
checks its fields with it, and ``routegraph.cli.options`` turns the same
bounds into argparse types, so ``--threads -1`` and ``TrainConfig(threads=-1)``
are refused with the same words. Torch-free: the CLI imports it for ``--help``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .errors import ConfigError, got


@dataclass(frozen=True)
class Bound:
    """Accepted values: ``kind`` (int or float), ``lo <= v`` (or ``lo < v`` if not ``lo_inclusive``),
    ``v < hi`` (or ``v <= hi`` if ``hi_inclusive``); floats must be finite."""

    kind: type = float
    lo: float | None = None
    lo_inclusive: bool = True
    hi: float | None = None
    hi_inclusive: bool = False

    def allowed(self, finite: bool = False) -> str:
        """In words, e.g. 'an integer >= 1', '> 0', 'in [0, 1)' ('a finite number ...' if ``finite``)."""
        lo, hi = _limit(self.lo), _limit(self.hi)
        if self.lo is not None and self.hi is not None:
            limits = f"in {'[' if self.lo_inclusive else '('}{lo}, {hi}{']' if self.hi_inclusive else ')'}"
        elif self.lo is not None:
            limits = f"{'>=' if self.lo_inclusive else '>'} {lo}"
        elif self.hi is not None:
            limits = f"{'<=' if self.hi_inclusive else '<'} {hi}"
        else:
            limits = ""
        what = "an integer" if self.kind is int else "a finite number" if finite else ""
        return f"{what} {limits}".strip() or "a number"

    def problem(self, value) -> str | None:
        """None if ``value`` is allowed, else 'must be ... (got X)'."""
        number = isinstance(value, (int, float)) and not isinstance(value, bool)  # True is not 1 here
        finite = number and math.isfinite(value)
        ok = finite and (self.kind is not int or isinstance(value, int))
        if ok and self.lo is not None:
            ok = value >= self.lo if self.lo_inclusive else value > self.lo
        if ok and self.hi is not None:
            ok = value <= self.hi if self.hi_inclusive else value < self.hi
        return None if ok else f"must be {self.allowed(finite=not finite)} (got {got(value)})"

    def check(self, value, what: str):
        """``value``, or a :class:`ConfigError` naming ``what``."""
        problem = self.problem(value)
        if problem:
            raise ConfigError(f"{what} {problem}")
        return value


def _limit(value) -> str:
    """A limit as written: integers in full (2147483647, not 2.14748e+09), floats with ``:g``."""
    return str(value) if isinstance(value, int) or value is None else f"{value:g}"


# Every integer setting has an upper limit, so a huge number is refused with the allowed range
# instead of overflowing deep inside torch (C long long / int32). Counts and sizes: int32.
INT_MAX = 2**31 - 1
POSITIVE_INT = Bound(int, 1, hi=INT_MAX, hi_inclusive=True)
NON_NEGATIVE_INT = Bound(int, 0, hi=INT_MAX, hi_inclusive=True)
# torch.manual_seed takes up to 2**64 - 1; 2**32 - 1 (numpy's seed range) leaves room for the
# per-iteration seeds derived from it (train/loop.py: seed * 1_000_003 + t).
SEED = Bound(int, 0, hi=2**32 - 1, hi_inclusive=True)
# torch CPU threads (0: torch's choice): more threads than cores only slows training down, and
# 4096 is above the core count of any current machine, so a larger number is a typo.
MAX_THREADS = 4096
THREADS = Bound(int, 0, hi=MAX_THREADS, hi_inclusive=True)
POSITIVE = Bound(float, 0, lo_inclusive=False)
NON_NEGATIVE = Bound(float, 0)
K_CPT = NON_NEGATIVE  # cost per multiply-accumulate: finite, >= 0


#: Numeric precisions of training and inference (routegraph.nn.precision): autocast bf16, or measured.
PRECISIONS = ("fp32", "bf16", "auto")
#: Training policies of the critics (routegraph.routing.sampling): how a training step picks each sink.
POLICIES = ("softmax", "epsilon_greedy", "argmax_floor")
#: Sampled critic targets (routegraph.routing.sampled_targets): realised costs only, or with the
#: critic's own estimates of the sinks not taken.
CRITIC_TARGETS = ("realised", "bootstrapped")
#: TALR of sampled critics: equal update variance at any traffic (sqrt(B / n_r), the derived one), or
#: each region's mean gradient over the examples that ran it (B / n_r).
SAMPLED_TALR = ("variance", "mean")


def check_k_cpt(value, what: str = "k_cpt"):
    """A k_cpt as a float (a tensor or array of per-example values: unchanged, every value checked);
    NaN, infinity and negative values are a :class:`ConfigError`.

    Every entry point that takes k_cpt (training settings, ``evaluate``,
    ``route``, calibration, the CLI's ``--k-cpt``) goes through here."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):  # ints, numpy scalars
        return K_CPT.check(float(value), what)
    if hasattr(value, "tolist") and not isinstance(value, str):  # torch / numpy arrays
        if len(value.shape) > 1:
            raise ConfigError(f"{what} must be a number or one value per example (got shape {tuple(value.shape)})")
        # one reduction (one device sync), not a Python loop per example; NaN fails both comparisons
        if not bool(((value >= 0) & (value < math.inf)).all()):
            flat = value.reshape(-1).tolist()
            K_CPT.check(next(v for v in flat if not 0 <= v < math.inf), what)
        return value
    return K_CPT.check(value, what)
