"""Writing pictures to files: graphviz diagrams (with a fallback when ``dot`` is
missing) and matplotlib figures. Every write is atomic.

>>> print(write_diagram(architecture_dot(graph), "arch.svg"))   # doctest: +SKIP
wrote arch.svg

If graphviz's ``dot`` program is not installed, :func:`render_diagram` still
writes the DOT source beside the requested file (``arch.gv``) and says how to
render it (``dot -Tsvg arch.gv -o arch.svg``) instead of failing.
"""
from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, RenderError
from ..io import atomic_open, atomic_write_text

DIAGRAM_FORMATS = (".svg", ".png", ".pdf")
SOURCE_FORMATS = (".gv", ".dot")
FIGURE_FORMATS = (".svg", ".png", ".pdf")


@dataclass(frozen=True)
class DiagramResult:
    """What :func:`render_diagram` did: ``path`` is the file written."""

    path: Path
    rendered: bool  # False: only the DOT source was written (dot is missing, or a .gv was asked for)
    message: str


def dot_available() -> bool:
    """Whether graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def missing_dot_message(source: Path, wanted: Path) -> str:
    fmt = wanted.suffix.lstrip(".") or "svg"
    return (f"graphviz's 'dot' program was not found, so {wanted} was not drawn; wrote its source to {source}. "
            f"Install graphviz (e.g. 'apt-get install graphviz') and run: dot -T{fmt} {source} -o {wanted}")


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ConfigError(f"{path}: cannot write a {what} as {suffix or 'a file without extension'!r} "
                          f"(use {', '.join(allowed)})")
    return suffix


def dot_bytes(dot, fmt: str = "svg") -> bytes:
    """Render a graphviz graph in memory. Raises ``graphviz.ExecutableNotFound`` if dot is missing."""
    import graphviz

    try:
        return dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip()
        raise RenderError(f"graphviz failed to draw the diagram: {detail or exc}") from None


def render_diagram(dot, out: str | Path) -> DiagramResult:
    """Write ``dot`` (a graphviz graph) to ``out`` as .svg/.png/.pdf, or its source as .gv/.dot."""
    import graphviz

    out = Path(out)
    suffix = _suffix(out, DIAGRAM_FORMATS + SOURCE_FORMATS, "diagram")
    if suffix in SOURCE_FORMATS:
        atomic_write_text(out, dot.source)
        return DiagramResult(out, False, f"wrote {out} (render it with: dot -Tsvg {out} -o {out.with_suffix('.svg')})")
    try:
        data = dot_bytes(dot, suffix.lstrip("."))
    except graphviz.ExecutableNotFound:
        source = out.with_suffix(".gv")
        atomic_write_text(source, dot.source)
        return DiagramResult(source, False, missing_dot_message(source, out))
    with atomic_open(out, "wb") as handle:
        handle.write(data)
    return DiagramResult(out, True, f"wrote {out}")


def write_diagram(dot, out: str | Path) -> str:
    """:func:`render_diagram`, returning only its message (what ``compile --render`` prints)."""
    return render_diagram(dot, out).message


# ---------------------------------------------------------------- matplotlib
def new_figure(width: float, height: float):
    """A matplotlib Figure not tied to pyplot (no global state, freed when dropped)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_bytes(fig, fmt: str = "svg", dpi: int = 150) -> bytes:
    """A figure as SVG/PNG/PDF bytes; SVG and PDF carry no date, so the output is reproducible."""
    import matplotlib

    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt in ("svg", "pdf") else {"Software": None}
    if fmt == "pdf":
        metadata["CreationDate"] = metadata.pop("Date")
    with matplotlib.rc_context({"svg.hashsalt": "routegraph", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def save_figure(fig, out: str | Path, dpi: int = 150) -> Path:
    """Write a matplotlib figure to ``out`` (format from the extension), atomically."""
    out = Path(out)
    suffix = _suffix(out, FIGURE_FORMATS, "figure")
    data = figure_bytes(fig, suffix.lstrip("."), dpi)
    with atomic_open(out, "wb") as handle:
        handle.write(data)
    return out
