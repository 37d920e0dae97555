"""A self-contained HTML report of runs: one file, every picture embedded.

Sections: a summary table; the accuracy/efficiency curves; dataflow diagrams
(accuracy and classes) per network family; the architecture of every distinct
network; then, for each run, its configuration, final metrics, per-classifier
statistics, training curves, dataflow diagram and dataflow over training.

Pictures are embedded as ``data:`` URIs (SVG), so the page needs no network,
no other files and no script from anywhere; a small inline script only checks
that every picture decoded (``<body data-images-loaded="k/n">``) and logs a
console error for any that did not.

>>> write_report(find_runs(["runs/"]), "report.html")   # doctest: +SKIP
"""
from __future__ import annotations

import base64
import datetime
import html
import json
from pathlib import Path

from ..errors import RouteGraphError
from ..graph.layering import classifier_layers
from ..io import atomic_write_text
from ..methods import is_fixed_path
from .runs import NoRunsError, RunInfo, display_names, sort_by_k_cpt
from .style import format_k_cpt, format_ops, method_display_name, plural

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:1.5em 2em 4em}
h1{font-size:1.7em;margin:.2em 0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}nav{columns:3 16em;font-size:.92em;margin:1em 0}nav a{display:block}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em;background:#fff}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f0f0f0}
td.l,th.l{text-align:left}figure{margin:1em 0;background:#fff;border:1px solid #e4e4e4;padding:.6em;overflow-x:auto}
figure img{max-width:100%;height:auto;display:block}figcaption{color:#555;font-size:.88em;margin-top:.4em}
figure.wide img{max-width:none;max-height:720px}
pre{background:#f4f4f4;padding:.8em;overflow:auto;font-size:.82em;max-height:30em}
.run{background:#fff;border:1px solid #ddd;border-radius:6px;padding:0 1.2em 1em;margin:1.5em 0}
.muted{color:#777}.note{background:#fff7e0;border-left:4px solid #e0b000;padding:.5em .8em}
.grid{display:flex;flex-wrap:wrap;gap:1em}.grid>figure{flex:1 1 420px}
"""

CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  images.forEach(function (img) {
    if (!(img.complete && img.naturalWidth > 0)) { console.error("routegraph report: picture failed to load: " + img.alt); }
  });
  document.body.setAttribute("data-images-loaded", ok.length + "/" + images.length);
});
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(data: bytes, alt: str, caption: str = "", mime: str = "image/svg+xml", wide: bool = False) -> str:
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    cls = ' class="wide"' if wide else ""
    return f'<figure{cls}><img alt="{_e(alt)}" src="{data_uri(data, mime)}">{cap}</figure>'


def _fig(fig, alt: str, caption: str = "") -> str:
    from .render import figure_bytes

    return _img(figure_bytes(fig, "svg"), alt, caption)


def _failed(what: str, exc: Exception) -> str:
    return f'<p class="note">Could not draw {_e(what)}: {_e(exc)}</p>'


def _table(headers: list[str], rows: list[list], left: int = 1) -> str:
    head = "".join(f'<th{" class=l" if i < left else ""}>{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=l" if i < left else ""}>{_e(v)}</td>' for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _anchor(name: str) -> str:
    return "run-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)



def _pct(value) -> str:
    return "-" if value is None else f"{100 * float(value):.2f}%"


def _k(value) -> str:
    return "dynamic" if value is None else format_k_cpt(value)


def _graph_key(run: RunInfo) -> str:
    return run.graph_key


# ---------------------------------------------------------------- sections
def _summary(runs: list[RunInfo], names: dict) -> str:
    rows = []
    for run in runs:
        e = run.evaluation()
        rows.append([names[run.path], method_display_name(run.config), run.context()["spec"] or run.graph.name,
                     _k(run.k_cpt), run.config.get("iterations", "-"),
                     _pct(e["error_rate"]) if e else "not evaluated", format_ops(e["mean_ops"]) if e else "-",
                     _pct(e["mean_ops"] / e["full_ops"]) if e and e.get("full_ops") else "-",
                     e.get("n", "-") if e else "-"])
    links = "".join(f'<a href="#{_anchor(names[r.path])}">{_e(names[r.path])}</a>' for r in runs)
    return (_table(["run", "method", "spec", "k_cpt", "iterations", "error rate", "mean ops", "of deepest path", "test n"], rows, 3)
            + f"<nav>{links}</nav>")


def _curves(runs: list[RunInfo]) -> str:
    from .curves import accuracy_efficiency_curves, curves_figure

    try:
        curves = accuracy_efficiency_curves(runs)
    except NoRunsError as exc:
        return f'<p class="muted">{_e(exc)}</p>'
    names = ", ".join(f"{c.label} ({len(c.points)} point{'s' if len(c.points) != 1 else ''})" for c in curves)
    return _fig(curves_figure(curves), "accuracy/efficiency curves",
                f"Error rate against mean op count (Fig. 5). Curves: {names}.")


def _families(runs: list[RunInfo]) -> list[tuple[str, list[RunInfo]]]:
    """Routed runs that share a network (same compiled graph), for stacked dataflow rows."""
    groups: dict[str, list[RunInfo]] = {}
    for run in runs:
        if not is_fixed_path(run.method) and run.evaluations:
            groups.setdefault(_graph_key(run), []).append(run)
    out = []
    for family in groups.values():
        first = family[0]
        context = first.context()
        name = context["spec"] or first.graph.name
        if context["params"]:
            name += " (" + ", ".join(f"{k}={v}" for k, v in sorted(context["params"].items())) + ")"
        if first.graph.k_cpt_input:
            name += ", dynamic k_cpt"
        out.append((name, sort_by_k_cpt(family)))
    return out


def _dataflow_section(runs: list[RunInfo]) -> str:
    from .dataflow import dataflow_figure, dataflow_rows

    parts = []
    for name, family in _families(runs):
        parts.append(f"<h3>{_e(name)}: {plural(len(family), 'run')}</h3>")
        for variant, what in (("accuracy", "correct vs. incorrect"), ("classes", "classes")):
            try:
                fig = dataflow_figure(dataflow_rows(family), variant)
                parts.append(_fig(fig, f"dataflow {variant} {name}",
                                  f"Dataflow ({what}): circle area is the fraction of test examples classified there "
                                  f"(Figs. 6-7); rows ordered by k_cpt."))
            except RouteGraphError as exc:
                parts.append(_failed(f"the {variant} dataflow", exc))
    return "".join(parts) or '<p class="muted">No evaluated routed runs.</p>'


def _architectures(runs: list[RunInfo]) -> tuple[str, dict[str, str]]:
    """The architecture section and, per graph key, the anchor of its diagram."""
    from .architecture import architecture_dot
    from .render import dot_bytes

    import graphviz

    parts, anchors = [], {}
    for run in runs:
        key = _graph_key(run)
        if key in anchors:
            continue
        anchor = anchors[key] = f"arch-{len(anchors) + 1}"
        graph = run.graph
        parts.append(f'<h3 id="{anchor}">{_e(graph.name)}</h3>')
        dot = architecture_dot(graph)
        try:
            parts.append(_img(dot_bytes(dot, "svg"), f"architecture of {graph.name}",
                              f"{plural(len(graph.nodes), 'node')}, {plural(len(graph.junctions), 'junction')}, "
                              f"{plural(len(graph.paths), 'path')}; "
                              f"deepest path {format_ops(max(p.ops for p in graph.paths))} ops.", wide=True))
        except graphviz.ExecutableNotFound:
            parts.append('<p class="note">graphviz\'s <code>dot</code> program was not found, so the diagram is '
                         'not drawn. Its source is below; render it with <code>dot -Tsvg arch.gv -o arch.svg</code>.</p>'
                         f"<pre>{_e(dot.source)}</pre>")
        except RouteGraphError as exc:
            parts.append(_failed("the architecture", exc))
    return "".join(parts), anchors


CONFIG_KEYS = ("run_id", "method", "label", "spec", "spec_params", "static_classifier", "k_cpt", "dynamic_k_cpt",
               "data", "seed", "iterations")


def _run_section(run: RunInfo, name: str, arch_anchor: str) -> str:
    from .curves import training_figure
    from .dataflow import dataflow_figure, dataflow_rows
    from .heatmap import over_training_figure

    parts = [f'<section class="run" id="{_anchor(name)}"><h2>{_e(name)}</h2>',
             f'<p class="muted">{_e(run.path)} · <a href="#{arch_anchor}">architecture</a></p>']
    config_rows = [[k, json.dumps(run.config[k]) if isinstance(run.config[k], (dict, list)) else run.config[k]]
                   for k in CONFIG_KEYS if k in run.config]
    parts.append("<h3>Configuration</h3>" + _table(["setting", "value"], config_rows, 2)
                 + f"<details><summary>config.json</summary><pre>{_e(json.dumps(run.config, indent=1))}</pre></details>")
    evaluations = run.evaluations
    if evaluations:
        parts.append("<h3>Final metrics (test set)</h3>" + _table(
            ["k_cpt", "error rate", "mean ops", "deepest path ops", "of deepest path", "n"],
            [[_k(e.get("k_cpt")), _pct(e["error_rate"]), format_ops(e["mean_ops"]), format_ops(e.get("full_ops", 0)),
              _pct(e["mean_ops"] / e["full_ops"]) if e.get("full_ops") else "-", e.get("n", "-")] for e in evaluations], 1))
        record = run.evaluation()
        layers = classifier_layers(run.graph)
        rows = [[name, layers.get(name, "-"), s.get("depth", "-"), format_ops(s.get("path_ops", 0)), s.get("count", 0),
                 _pct(s.get("fraction")), _pct(s.get("accuracy"))] for name, s in record.get("classifiers", {}).items()]
        parts.append(f"<h3>Per classifier (k_cpt = {_e(_k(record.get('k_cpt')))})</h3>"
                     + _table(["classifier", "layer", "decisions", "path ops", "examples", "fraction", "accuracy"], rows))
    else:
        parts.append('<p class="note">Not evaluated yet (no eval.json); run <code>routegraph evaluate</code>.</p>')
    parts.append("<div class=grid>")
    try:
        fig = training_figure(run)
        parts.append(_fig(fig, f"training curves {name}", "Training curves (metrics.jsonl).") if fig
                     else '<p class="muted">No training log.</p>')
    except RouteGraphError as exc:
        parts.append(_failed("the training curves", exc))
    if evaluations:
        try:
            parts.append(_fig(dataflow_figure(dataflow_rows([run]), "accuracy"), f"dataflow {name}",
                              "Dataflow: circle area is the fraction of test examples classified there."))
        except RouteGraphError as exc:
            parts.append(_failed("the dataflow", exc))
    if run.eval_history:
        try:
            parts.append(_fig(over_training_figure([run]), f"dataflow over training {name}",
                              "Fraction of validation images classified at each classifier over training (Fig. 8)."))
        except RouteGraphError as exc:
            parts.append(_failed("the dataflow over training", exc))
    parts.append("</div></section>")
    return "".join(parts)


def report_html(runs: list[RunInfo], *, title: str = "routegraph report") -> str:
    """The whole report page as a string."""
    if not runs:
        raise NoRunsError("no runs to report on")
    runs = sorted(runs, key=lambda r: (not is_fixed_path(r.method), r.label, r.k_cpt is None, r.k_cpt or 0.0, r.name))
    names = display_names(runs)
    arch, anchors = _architectures(runs)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [
        f"<h1>{_e(title)}</h1><p class=muted>{plural(len(runs), 'run')} · generated {stamp}</p>",
        '<nav><a href="#summary">Summary</a><a href="#curves">Accuracy/efficiency</a><a href="#dataflow">Dataflow</a>'
        '<a href="#architectures">Architectures</a><a href="#runs">Runs</a></nav>',
        '<h2 id="summary">Summary</h2>', _summary(runs, names),
        '<h2 id="curves">Accuracy/efficiency</h2>', _curves(runs),
        '<h2 id="dataflow">Dataflow</h2>', _dataflow_section(runs),
        '<h2 id="architectures">Architectures</h2>', arch,
        '<h2 id="runs">Runs</h2>',
        *(_run_section(run, names[run.path], anchors[_graph_key(run)]) for run in runs),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(body) + f"\n</main><script>{CHECK_SCRIPT}</script></body></html>\n")


def write_report(runs: list[RunInfo], out: str | Path, *, title: str = "routegraph report") -> Path:
    """Write :func:`report_html` to ``out`` atomically; returns the path."""
    out = Path(out)
    atomic_write_text(out, report_html(runs, title=title))
    return out
