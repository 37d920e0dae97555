"""compiled.json: a node holds its CompiledLayer, written flat as before (docs/compiled-graph.md),
and the ``format`` is checked on load."""
import json
from pathlib import Path

import pytest

from routegraph.errors import CheckpointError
from routegraph.graph import compile_spec
from routegraph.graph.compiled import COMPILED_FORMAT, CompiledGraph, CompiledLayer
from routegraph.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO / "specs").glob("*.yaml"))
# compiled.json files written by earlier code: the oracle of the format
SAVED = sorted((REPO / "docs" / "results" / "runs").glob("*/*/compiled.json"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_a_graph_survives_its_json_and_each_node_holds_a_layer(spec):
    graph = compile_spec(load_spec(spec))
    again = CompiledGraph.from_json(json.loads(graph.dumps()))
    assert again == graph and again.dumps() == graph.dumps()
    for node in graph.nodes:
        assert isinstance(node.layer, CompiledLayer)
        assert (node.kind, node.config, node.ops, node.params) == (node.layer.kind, node.layer.config,
                                                                   node.layer.ops, node.layer.params)


@pytest.mark.parametrize("path", SAVED[:8], ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_saved_compiled_json_is_written_back_key_for_key(path):
    data = json.loads(path.read_text())
    assert CompiledGraph.from_json(data).to_json() == data
    assert list(CompiledGraph.from_json(data).to_json()["nodes"][0]) == list(data["nodes"][0])  # the key order too


@pytest.mark.parametrize("data", [{}, {"format": "routegraph.compiled/2"}, {"format": "routegraph.run/1"}, []])
def test_a_file_of_another_format_is_refused_naming_it(data):
    with pytest.raises(CheckpointError, match=r"^run/compiled.json: not a routegraph compiled graph \(format "):
        CompiledGraph.from_json(data, "run/compiled.json")


def test_the_format_written_is_the_format_checked():
    graph = compile_spec(load_spec(SPECS[0]))
    assert graph.to_json()["format"] == COMPILED_FORMAT
