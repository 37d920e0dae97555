"""Architecture diagrams: golden DOT source, drawing conventions, random graphs."""
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import viz_fakes
from routegraph.errors import ConfigError
from routegraph.graph import compile_spec
from routegraph.viz.architecture import architecture_dot, router_text, shape_text
from strategies_graphs import routed_specs

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ROUTEGRAPH_UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"golden file {path} was missing and has been written; check it and rerun")
    assert text == path.read_text(), f"{name} changed; rerun with ROUTEGRAPH_UPDATE_GOLDEN=1 if intended"


def edges(source: str) -> list[tuple[str, str, str]]:
    out = []
    for line in source.splitlines():
        m = re.match(r'\s*("?[^"\s]+"?) -> ("?[^"\s]+"?)(.*)$', line)
        if m:
            out.append((m.group(1).strip('"'), m.group(2).strip('"'), m.group(3)))
    return out


def test_golden_chain_nodes():
    check_golden("chain2_nodes.gv", architecture_dot(viz_fakes.chain_graph(depth=2)).source)


def test_golden_tree_layers():
    check_golden("tree_layers.gv", architecture_dot(viz_fakes.branching_graph(), detail="layers").source)


def test_conventions_on_the_chain(chain):
    source = architecture_dot(chain).source
    # every node and junction is drawn, labelled with kind, shape and ops
    for node in chain.nodes:
        assert re.search(rf'\b{re.escape(node.name)} \[label="{re.escape(node.name)}\\n', source), node.name
    assert 'conv1\\nconv2d · 2x6x6\\n' in source
    # junctions are drawn distinctly, with their router
    for j in chain.junctions:
        line = next(l for l in source.splitlines() if l.strip().startswith(f"{j.name} [label="))
        assert "diagonals" in line and "2-way junction" in line and "router: linear 4 › relu › linear 2" in line
    # classifiers are leaves, double-bordered
    sources = {a for a, _, _ in edges(source)}
    for classifier in chain.classifiers:
        assert classifier not in sources
        assert re.search(rf'{classifier} \[label=[^\n]*peripheries=2', source)
    # routing edges carry the sink index
    assert any(a == "j1" and b == "exit1" and "label=0" in attrs for a, b, attrs in edges(source))
    assert any(a == "j1" and b == "conv2" and "label=1" in attrs for a, b, attrs in edges(source))
    assert "rankdir=LR" in source


def test_layers_detail_merges_template_instances(tree):
    source = architecture_dot(tree, detail="layers").source
    assert '"a.l2" [label="a.l2\\nconv2d › flatten' in source
    assert '"a.l2.conv"' not in source  # merged into its instance box
    assert '"a.l2.exit"' in source  # classifiers stay leaves of their own
    assert architecture_dot(tree, detail="auto").source == architecture_dot(tree, detail="nodes").source


def test_unknown_detail_is_a_config_error(chain):
    with pytest.raises(ConfigError, match="unknown diagram detail 'everything'"):
        architecture_dot(chain, detail="everything")


def test_label_helpers(tree):
    from routegraph.graph.compiled import PyramidShape, TensorShape

    pyramid = PyramidShape((TensorShape((3, 32, 32)), TensorShape((3, 16, 16)), TensorShape((3, 4, 4))))
    assert shape_text(pyramid) == "[3x32x32 … 3x4x4] (3 scales)"
    assert router_text(tree.junction("j1").router) == "linear 4 › relu › linear 3"


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed")
def test_dot_accepts_the_reference_specs():
    from routegraph.spec import load_spec
    from routegraph.viz.render import dot_bytes

    root = Path(__file__).resolve().parents[2] / "specs"
    specs = [p for p in (root / "chain_8layer.yaml", root / "branching_3way.yaml") if p.exists()]
    if not specs:
        pytest.skip("reference specs not present")
    for spec in specs:
        graph = compile_spec(load_spec(spec))
        svg = dot_bytes(architecture_dot(graph), "svg")
        assert svg.lstrip().startswith(b"<?xml") and b"</svg>" in svg
        for classifier in graph.classifiers[:3]:
            assert classifier.encode() in svg


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=routed_specs())
def test_random_graphs(spec):
    graph = compile_spec(spec)
    for detail in ("nodes", "layers"):
        source = architecture_dot(graph, detail=detail).source
        sources = {a for a, _, _ in edges(source)}
        assert not sources & set(graph.classifiers)
        for j in graph.junctions:
            routed = [b for a, b, attrs in edges(source) if a == j.name]
            assert len(routed) == len(j.sinks)
