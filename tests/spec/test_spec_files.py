"""Every spec in specs/ loads; the reference specs have the paper's architectures."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from routegraph.spec import NODE_KINDS, load_spec
from routegraph.spec.schema import ClassifierNode, JunctionNode

SPECS = Path(__file__).resolve().parents[2] / "specs"
FILES = sorted(SPECS.glob("*.yaml"))
CHAIN_CHANNELS = [[16] * 4, [16] * 4, [32] * 3, [32] * 3, [64] * 2, [64] * 2, [128], [128]]


def test_specs_exist():
    names = {f.name for f in FILES}
    assert {"chain_8layer.yaml", "branching_3way.yaml", "tiny_chain.yaml", "tiny_tree.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_spec_loads(path):
    spec = load_spec(path)
    assert spec.nodes and spec.file == str(path)
    assert path.read_text().startswith("# yaml-language-server: $schema=../docs/routegraph.schema.json")
    for i, node in enumerate(spec.nodes):  # every node and field is located
        assert spec.where(f"nodes.{i}")["line"] > 0
        for field in node.model_fields_set:
            assert f"nodes.{i}.{field}" in spec.locations, (node.name, field)


def test_every_kind_is_used_by_some_spec():
    used = {node.kind for path in FILES for node in load_spec(path).nodes}
    assert set(NODE_KINDS) <= used, f"kinds no spec uses: {set(NODE_KINDS) - used}"


def _router_widths(junction):
    return [(l.kind, getattr(l, "features", None)) for l in junction.router.layers]


def _check_router(junction):
    n = len(junction.sinks)
    assert junction.router.block == "router"
    assert _router_widths(junction) == [("linear", 16), ("batchnorm", None), ("relu", None),
                                        ("linear", 16), ("batchnorm", None), ("relu", None), ("linear", n)]


@pytest.mark.parametrize("width", [1, 2, 3])
def test_chain_8layer(width):
    spec = load_spec(SPECS / "chain_8layer.yaml", {"width": width})
    by = {n.name: n for n in spec.nodes}
    assert len(by) == len(spec.nodes) == 1 + 8 * 4 + 7
    assert by["pyramid"].sizes == [32, 16, 8, 4] and by["pyramid"].input == "image"
    assert spec.input.shape == [3, 32, 32]
    for k in range(1, 9):
        conv = by[f"l{k}.conv"]
        assert conv.kind == "multiscale_conv"
        assert conv.channels == [c * width for c in CHAIN_CHANNELS[k - 1]]
        assert conv.input == ("pyramid" if k == 1 else f"l{k - 1}.conv")
        assert by[f"l{k}.top"].input == conv.name and by[f"l{k}.top"].index == -1
        assert by[f"l{k}.desc"].kind == "flatten" and by[f"l{k}.desc"].input == f"l{k}.top"
        assert by[f"l{k}.exit"].input == f"l{k}.desc" and by[f"l{k}.exit"].classes == 10
        if k < 8:
            j = by[f"j{k}"]
            assert j.router.reads == f"l{k}.desc" and j.sinks == [f"l{k}.exit", f"l{k + 1}.conv"]
            _check_router(j)
    assert "j8" not in by
    assert len(Path(SPECS / "chain_8layer.yaml").read_text().splitlines()) < 150


def test_branching_3way():
    spec = load_spec(SPECS / "branching_3way.yaml")
    by = {n.name: n for n in spec.nodes}
    assert len(by) == len(spec.nodes)
    kinds = Counter(n.kind for n in spec.nodes)
    # 1 + 2 + 4 layers before the chains, then 8 chains of layers 4..8.
    assert kinds["multiscale_conv"] == kinds["classifier"] == 1 + 2 + 4 + 8 * 5
    assert kinds["junction"] == 1 + 2 + 4 + 8 * 4
    junctions = [n for n in spec.nodes if isinstance(n, JunctionNode)]
    for j in junctions:
        _check_router(j)
    assert by["j1"].sinks == ["l1.exit", "a.l2.conv", "b.l2.conv"]
    assert by["b.j2"].sinks == ["b.l2.exit", "b.a.l3.conv", "b.b.l3.conv"]
    assert by["b.a.j3"].sinks == ["b.a.l3.exit", "b.a.a.l4.conv", "b.a.b.l4.conv"]
    assert by["b.a.b.j7"].sinks == ["b.a.b.l7.exit", "b.a.b.l8.conv"]
    assert by["b.a.b.l4.conv"].input == "b.a.l3.conv"  # passed down through two templates
    assert by["a.b.l3.conv"].input == "a.l2.conv"
    assert by["a.a.l3.conv"].input == "a.l2.conv" and by["a.l2.conv"].input == "l1.conv"
    for name, node in by.items():
        depth = name.count(".")
        if node.kind == "multiscale_conv":
            layer = int(name.split(".")[-2][1:])
            assert node.channels == CHAIN_CHANNELS[layer - 1]
            assert depth == min(layer - 1, 3) + 1
        if isinstance(node, JunctionNode):
            assert len(node.sinks) == (3 if int(name[-1]) <= 3 else 2)
    assert sum(isinstance(n, ClassifierNode) for n in spec.nodes) == 47
    assert len(Path(SPECS / "branching_3way.yaml").read_text().splitlines()) < 150


def test_tiny_specs_are_small():
    for name in ("tiny_chain.yaml", "tiny_tree.yaml"):
        spec = load_spec(SPECS / name)
        assert spec.input.shape == [3, 32, 32] and spec.params["num_classes"] == 10
        assert all(n.classes == 10 for n in spec.nodes if isinstance(n, ClassifierNode))
    chain = {n.name: n for n in load_spec(SPECS / "tiny_chain.yaml").nodes}
    assert chain["j1"].sinks == ["l1.exit", "l2.conv"] and chain["j2"].sinks == ["l2.exit", "l3.conv"]
    tree = {n.name: n for n in load_spec(SPECS / "tiny_tree.yaml").nodes}
    assert len(tree["j1"].sinks) == 3 and len(tree["a.j"].sinks) == 2
