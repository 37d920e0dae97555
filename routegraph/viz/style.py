"""Shared look of every picture: number formats, method names and colours.

Nothing here imports matplotlib or graphviz.

>>> format_ops(20_699_872)
'20.7M'
>>> format_k_cpt(4e-9)
'4×10⁻⁹'
>>> format_k_cpt(4e-9, tex=True)
'$4\\\\times10^{-9}$'
>>> method_display_name({"method": "actor", "label": "actor", "dynamic_k_cpt": False})
'Actor nets'
"""
from __future__ import annotations

import math

from ..methods import find_method

DYNAMIC_SUFFIX = " (dynamic k_cpt)"
#: The colour of dynamic-k_cpt curves; each method's own colour is in its declaration (routegraph.methods).
DYNAMIC_COLOR = "#9467bd"
EXTRA_COLORS = ("#d62728", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#98df8a")

CORRECT_COLOR = "#4c9be8"
INCORRECT_COLOR = "#e8604c"
EMPTY_COLOR = "#bbbbbb"

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_ops(ops: float) -> str:
    """Multiply-accumulates with an SI suffix: 512, 9.22k, 1.36M, 2.07G."""
    ops = float(ops)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(ops) >= scale:
            return f"{ops / scale:.3g}{suffix}"
    return f"{ops:.0f}"


def plural(count: int, noun: str) -> str:
    """``plural(1, 'run')`` is '1 run', ``plural(3, 'run')`` is '3 runs'."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def format_k_cpt(k: float | None, tex: bool = False) -> str:
    """``4e-9`` as ``4×10⁻⁹`` (or matplotlib mathtext with ``tex=True``); None is 'dynamic'."""
    if k is None:
        return "dynamic"
    k = float(k)
    if k == 0:
        return "0"
    exponent = math.floor(math.log10(abs(k)))
    mantissa = k / 10 ** exponent
    if round(mantissa, 6) >= 10:  # 9.9999999e-9 and friends
        mantissa, exponent = mantissa / 10, exponent + 1
    m = f"{mantissa:.2g}"
    if -2 <= exponent <= 3:
        return f"{k:.3g}"
    if tex:
        return f"${m}\\times10^{{{exponent}}}$" if m != "1" else f"$10^{{{exponent}}}$"
    return f"{m}×10{str(exponent).translate(_SUPERSCRIPT)}" if m != "1" else f"10{str(exponent).translate(_SUPERSCRIPT)}"


def _label(method: str) -> str:
    """The declared label of ``method`` ("Actor nets"); a method not registered here keeps its name."""
    found = find_method(method)
    return found.label if found else method


def _colour(family: str) -> str | None:
    if family == "dynamic":
        return DYNAMIC_COLOR
    found = find_method(family)
    return found.colour if found else None


def method_key(config: dict) -> str:
    """The colour family of a run: its method, or 'dynamic' for a dynamic-k_cpt run."""
    return "dynamic" if config.get("dynamic_k_cpt") else str(config.get("method", "?"))


def method_display_name(config: dict) -> str:
    """The legend name of a run's curve: the paper's name for default labels, else the label as written."""
    method = str(config.get("method", "?"))
    label = str(config.get("label") or method)
    if config.get("dynamic_k_cpt") and label == method + DYNAMIC_SUFFIX:
        base = _label(method)
        return base[:-1] + ", dynamic k_cpt" if base.endswith("nets") else base + ", dynamic k_cpt"
    if label == method:
        return _label(method)
    return label


def color_cycle(keys: list[str]) -> dict[str, str]:
    """A colour per key: method colours first, then distinct extras for repeats and unknown methods."""
    used: set[str] = set()
    out: dict[str, str] = {}
    # past the fixed extras (more curves than colours), evenly spaced hues: never run out
    extras = iter(list(EXTRA_COLORS) + class_colors(max(len(keys), 21)))
    for key in keys:
        family = key.split("|", 1)[0]
        color = _colour(family)
        if color is None or color in used:
            color = next((c for c in extras if c not in used), "#000000")
        used.add(color)
        out[key] = color
    return out


def class_colors(n: int) -> list[str]:
    """Distinct colours for ``n`` classes (tab10, then tab20, then evenly spaced hues)."""
    import colorsys

    tab10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    tab20_light = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]
    if n <= 10:
        return tab10[:n]
    if n <= 20:
        return [c for pair in zip(tab10, tab20_light) for c in pair][:n]
    return ["#%02x%02x%02x" % tuple(int(255 * v) for v in colorsys.hsv_to_rgb(i / n, 0.65, 0.9)) for i in range(n)]
