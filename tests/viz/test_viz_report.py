"""The HTML report: self-contained, complete, and clean in a real headless browser."""
import re
import shutil

import graphviz
import pytest

import viz_fakes
from routegraph.viz.browser import BrowserNotFound, check_in_browser, find_chromium
from routegraph.viz.report import report_html, write_report
from routegraph.viz.runs import NoRunsError, find_runs


@pytest.fixture(scope="module")
def small_experiment(tmp_path_factory, chain, tree):
    root = tmp_path_factory.mktemp("report") / "runs"
    viz_fakes.make_run(root, "sr-3", chain, method="static", k_cpt=0.0)
    viz_fakes.make_run(root, "ac-1e-09", chain, k_cpt=1e-9)
    viz_fakes.make_run(root, "ac-4e-09", chain, k_cpt=4e-9)
    viz_fakes.make_run(root, "tree-ac", tree, k_cpt=2e-9, spec="specs/branching_3way.yaml")
    viz_fakes.make_run(root, "fresh", chain, k_cpt=2e-9, with_eval=False, metrics=False)
    return root


@pytest.fixture(scope="module")
def report(small_experiment):
    """The report of small_experiment, written once for the tests below (drawing takes seconds)."""
    return write_report(find_runs([small_experiment]), small_experiment.parent / "report.html")


def test_report_is_self_contained_and_complete(small_experiment, report):
    runs = find_runs([small_experiment])
    page = report.read_text()
    # no network, no other files: every src/href is a data: URI or an in-page anchor
    for attr, value in re.findall(r'\b(src|href)="([^"]*)"', page):
        assert value.startswith(("data:", "#")), (attr, value[:80])
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert re.findall(r"<script[^>]*>", page) == ["<script>"]  # one inline script, no src
    # sections
    for anchor in ("summary", "curves", "dataflow", "architectures", "runs"):
        assert f'id="{anchor}"' in page
    for run in runs:
        assert f'id="run-{run.name}"' in page
        assert run.config["run_id"] in page  # its configuration
    # per-classifier statistics of each evaluated run
    assert page.count("<th>classifier</th>") + page.count("<th class=l>classifier</th>") == 4
    assert "Not evaluated yet" in page  # the run without eval.json
    # two distinct networks (the static baseline is a third): one diagram each
    if shutil.which("dot"):
        assert page.count('alt="architecture of') == 3
    else:
        assert page.count("<pre>digraph") == 3
    assert page.count("data:image/svg+xml;base64,") >= 10


def test_report_without_dot(small_experiment, monkeypatch):
    from routegraph.viz.report import _architectures

    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    page, anchors = _architectures(find_runs([small_experiment]))
    assert len(anchors) == 3
    assert "program was not found" in page and "dot -Tsvg" in page
    assert "<pre>digraph tiny_chain {" in page


def test_report_of_nothing():
    with pytest.raises(NoRunsError):
        report_html([])


def test_missing_browser_is_a_clear_error(tmp_path, monkeypatch):
    page = tmp_path / "p.html"
    page.write_text("<!DOCTYPE html><title>x</title>")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert find_chromium() is None
    with pytest.raises(BrowserNotFound, match="no headless chromium found"):
        check_in_browser(page)


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="needs a headless chromium (not installed)")
def test_report_renders_in_chromium(report, tmp_path):
    path = report
    result = check_in_browser(path, tmp_path / "report.png", width=1280, height=2000)
    assert result.console_errors == []
    total = path.read_text().count("<img ")
    assert result.attribute("data-images-loaded") == f"{total}/{total}"
    assert "Accuracy/efficiency" in result.dom
    shot = result.screenshot.read_bytes()
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="needs a headless chromium (not installed)")
def test_browser_check_sees_console_errors_and_broken_pictures(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img alt="broken" src="data:image/png;base64,AAAA">'
                    '<script>console.error("boom"); window.addEventListener("load", function () {'
                    'document.body.setAttribute("data-images-loaded", "0/1");});</script></body></html>')
    result = check_in_browser(page)
    assert any("boom" in message for message in result.console_errors)
    assert result.attribute("data-images-loaded") == "0/1"


def test_per_classifier_layer_comes_from_the_compiled_graph(small_experiment, report):
    """The static run sr-3 (the chain's last classifier, exit3: 2 routing decisions) shows layer 3,
    the layer its classifier has in the routed network, not 0 (decisions) or 1 (its own one region)."""
    page = report.read_text()
    section = page[page.index('id="run-sr-3"'):]
    section = section[:section.index("</section>")]
    row = re.search(r"<tr><td class=l>exit3</td><td>(\d+)</td><td>(\d+)</td>", section)
    assert row and row.groups() == ("3", "0")  # layer 3; the static net itself makes no decisions
    routed = page[page.index('id="run-ac-1e-09"'):]
    layers = dict(re.findall(r"<tr><td class=l>(exit\d)</td><td>(\d+)</td>", routed[:routed.index("</section>")]))
    assert layers == {"exit1": "1", "exit2": "2", "exit3": "3"}
