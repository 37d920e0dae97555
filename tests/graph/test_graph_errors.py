"""Graph-level errors: golden messages and hypothesis mutations of valid specs."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegraph.errors import SpecError
from routegraph.graph import compile_spec
from routegraph.spec import loads_spec
from golden_files import check_golden_messages
from strategies_graphs import routed_spec_dicts

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.yaml"))


def _compile_text(text: str, file: str = "spec.yaml"):
    return compile_spec(loads_spec(text, file=file))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_golden_compile_errors(path):
    with pytest.raises(SpecError) as info:
        _compile_text(path.read_text(), path.name)
    check_golden_messages(path, str(info.value) + "\n")


def test_cycle_is_printed_as_a_chain():
    with pytest.raises(SpecError, match=r"cycle: (\w+ -> )+\w+"):
        _compile_text((GOLDEN / "cycle.yaml").read_text())


MUTATIONS = ("dangling_input", "dangling_sink", "cycle", "one_sink", "router_width", "orphan")


def _mutate(spec: dict, mutation: str, data) -> dict | None:
    spec = copy.deepcopy(spec)
    nodes = spec["nodes"]
    layers = [n for n in nodes if n["kind"] not in ("junction",)]
    junctions = [n for n in nodes if n["kind"] == "junction"]
    if mutation == "dangling_input":
        victim = data.draw(st.sampled_from(layers))
        victim["input"] = "no_such_node"
    elif mutation == "dangling_sink" and junctions:
        data.draw(st.sampled_from(junctions))["sinks"][0] = "nowhere"
    elif mutation == "cycle" and len(layers) >= 2:
        first = layers[0]
        first["input"] = layers[-1]["name"] if layers[-1]["kind"] != "classifier" else layers[-2]["name"]
        if first["input"] == first["name"]:
            return None
    elif mutation == "one_sink" and junctions:
        data.draw(st.sampled_from(junctions))["sinks"] = ["x"][:1]
    elif mutation == "router_width" and junctions:
        junction = data.draw(st.sampled_from(junctions))
        junction["router"]["layers"][-1]["features"] = len(junction["sinks"]) + data.draw(st.integers(1, 3))
    elif mutation == "orphan":
        nodes.append({"name": "orphan", "kind": "relu", "input": nodes[0]["name"] if nodes[0]["kind"] != "junction" else "image"})
    else:
        return None
    return spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routed_spec_dicts(max_depth=2), st.sampled_from(MUTATIONS), st.data())
def test_malformed_graphs_give_located_spec_errors(spec, mutation, data):
    mutated = _mutate(spec, mutation, data)
    if mutated is None:
        return
    text = yaml.safe_dump(mutated, sort_keys=False)
    with pytest.raises(SpecError) as info:
        _compile_text(text)
    for problem in info.value.problems:
        assert problem.file == "spec.yaml" and problem.line > 0 and problem.path, str(problem)
