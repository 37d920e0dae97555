"""Spec.locations: every expanded value points at the exact line and column where it was written."""
from __future__ import annotations

from pathlib import Path

from routegraph.spec import load_spec, loads_spec

TEXT = """\
name: loc
params:
  width: 2
input: {name: img, shape: [3, 8, 8]}
blocks:
  r:
    - {kind: linear, features: 4}
    - {kind: linear, features: "${n_sinks}"}
templates:
  t:
    args: [src]
    nodes:
      - name: conv
        kind: conv2d
        input: "${src}"
        channels: "${2 * width}"
      - {name: flat, kind: flatten, input: conv}
nodes:
  - {use: t, as: a, with: {src: img}}
  - name: j
    kind: junction
    router: {reads: a.flat, block: r}
    sinks: [x, "y"]
  - {name: x, kind: classifier, input: a.flat, classes: 3}
  - {name: y, kind: linear, input: [a.flat], features: "${width}"}
"""


def test_exact_locations():
    spec = loads_spec(TEXT, file="loc.yaml")
    loc = spec.locations
    assert [n.name for n in spec.nodes] == ["a.conv", "a.flat", "j", "x", "y"]
    assert loc["nodes.0"] == (13, 9, "templates.t.nodes.0")
    assert loc["nodes.0.name"] == (13, 15, "templates.t.nodes.0.name")
    # "${src}" passes an argument through unchanged: it points where the caller wrote it
    assert loc["nodes.0.input"] == (19, 33, "nodes.0.with.src")
    # a computed value points at its expression in the template
    assert loc["nodes.0.channels"] == (16, 19, "templates.t.nodes.0.channels")
    assert loc["nodes.1.input"] == (17, 44, "templates.t.nodes.1.input")
    assert loc["nodes.2"] == (20, 5, "nodes.1")
    assert loc["nodes.2.router"] == (22, 13, "nodes.1.router")
    assert loc["nodes.2.router.reads"] == (22, 21, "nodes.1.router.reads")
    assert loc["nodes.2.router.block"] == (22, 36, "nodes.1.router.block")
    assert loc["nodes.2.router.layers"] == (7, 5, "blocks.r")
    assert loc["nodes.2.router.layers.1.features"] == (8, 32, "blocks.r.1.features")
    assert loc["nodes.2.sinks"] == (23, 12, "nodes.1.sinks")
    assert loc["nodes.2.sinks.1"] == (23, 16, "nodes.1.sinks.1")
    assert loc["nodes.4.input.0"] == (25, 37, "nodes.3.input.0")
    assert loc["nodes.4.features"] == (25, 56, "nodes.3.features")
    assert loc["input.shape"] == (4, 27, "input.shape")
    assert loc["input.shape.2"] == (4, 34, "input.shape.2")
    assert loc["params.width"] == (3, 10, "params.width")
    assert loc["name"] == (1, 7, "name")
    assert loc["nodes"] == (19, 3, "nodes")


def test_where_falls_back_to_the_parent():
    spec = loads_spec(TEXT, file="loc.yaml")
    # 'kernel' was not written (a default): the node's own location, with the path extended.
    assert spec.where("nodes.0.kernel") == {"file": "loc.yaml", "line": 13, "col": 9,
                                            "path": "templates.t.nodes.0.kernel"}
    # An expression's list value: every element points at the expression.
    assert spec.where("nodes.4.features")["line"] == 25


def test_every_location_points_at_the_written_text():
    path = Path(__file__).resolve().parents[2] / "specs" / "chain_8layer.yaml"
    spec = load_spec(path)
    lines = path.read_text().splitlines()
    for i, node in enumerate(spec.nodes):
        line, col, source = spec.locations[f"nodes.{i}.name"]
        written = lines[line - 1][col - 1:]
        local = node.name.rpartition(".")[2]
        assert written.startswith(local), (node.name, written)
        if hasattr(node, "input"):
            line, col, _ = spec.locations[f"nodes.{i}.input"]
            assert lines[line - 1][col - 1] not in " ,:{}", (node.name, lines[line - 1])
    # the third layer's channels come from the template's expression
    index = [n.name for n in spec.nodes].index("l3.conv")
    line, col, source = spec.locations[f"nodes.{index}.channels"]
    assert source == "templates.layer.nodes.0.channels"
    assert lines[line - 1][col - 1:].startswith('"${[ch * width] * scales}"')
