"""Malformed specs: random mutations of valid specs always give a located SpecError.

Start from a valid spec file's YAML data, break it in one way (delete a
required key, give a value of the wrong type, a negative size, an unknown
kind, an unknown key, a bad template argument, a bad param), and check that
``loads_spec`` raises ``SpecError`` - never another exception - and that every
problem has a file, a line > 0, a column > 0 and a dotted path.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegraph.errors import SpecError
from routegraph.spec import loads_spec
from routegraph.spec.schema import LAYER_MODELS, NODE_KINDS, NODE_MODELS, ClassifierNode, JunctionNode, RouterSpec
from routegraph.located.tree import SpecYamlLoader

SPECS = Path(__file__).resolve().parents[2] / "specs"
SOURCES = {name: yaml.load((SPECS / name).read_text(), Loader=SpecYamlLoader)
           for name in ("tiny_chain.yaml", "tiny_tree.yaml", "chain_8layer.yaml", "branching_3way.yaml")}
NODE_MODEL = {m.model_fields["kind"].annotation.__args__[0]: m for m in NODE_MODELS + (JunctionNode, ClassifierNode)}
LAYER_MODEL = {m.model_fields["kind"].annotation.__args__[0]: m for m in LAYER_MODELS}
POSITIVE = ("channels", "kernel", "stride", "features", "size", "sizes", "classes")
WRONG_TYPES = ({"x": 1}, [[1]], [{"x": 1}])
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sites(data: dict):
    """(dict, model) for every node, router, block layer and template use of a spec."""
    lists = [data["nodes"]] + [t["nodes"] for t in data.get("templates", {}).values()]
    for entries in lists:
        for entry in entries:
            if "use" in entry:
                yield entry, None
                continue
            yield entry, NODE_MODEL[entry["kind"]]
            if entry["kind"] == "junction":
                yield entry["router"], RouterSpec
                for layer in entry["router"].get("layers") or ():
                    yield layer, LAYER_MODEL[layer["kind"]]
    for layers in data.get("blocks", {}).values():
        for layer in layers:
            yield layer, LAYER_MODEL[layer["kind"]]


def _keys(model) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _required(model) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items() if f.is_required()]


@st.composite
def mutated_specs(draw):
    name = draw(st.sampled_from(sorted(SOURCES)))
    data = copy.deepcopy(SOURCES[name])
    sites = list(_sites(data))
    uses = [s for s, m in sites if m is None]
    models = [(s, m) for s, m in sites if m is not None]
    mutation = draw(st.sampled_from(
        ["delete", "wrong_type", "negative", "unknown_kind", "unknown_key", "template_arg", "param"]
        if uses else ["delete", "wrong_type", "negative", "unknown_kind", "unknown_key", "param"]))
    site, model = draw(st.sampled_from(models))
    if mutation == "delete":
        site, model = draw(st.sampled_from([(s, m) for s, m in models if set(_required(m)) & set(s)]))
        del site[draw(st.sampled_from(sorted(set(_required(model)) & set(site))))]
    elif mutation == "wrong_type":
        key = draw(st.sampled_from(sorted(site)))
        site[key] = draw(st.sampled_from(WRONG_TYPES))
    elif mutation == "negative":
        candidates = [(s, k) for s, m in models for k in POSITIVE if k in s and s[k] is not None]
        site, key = draw(st.sampled_from(candidates))
        bad = draw(st.integers(-64, 0))
        site[key] = [bad] if key in ("sizes", "channels") and draw(st.booleans()) else bad
    elif mutation == "unknown_kind":
        site, model = draw(st.sampled_from([(s, m) for s, m in models if "kind" in s]))
        site["kind"] = draw(st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
                            .filter(lambda k: k not in NODE_KINDS))
    elif mutation == "unknown_key":
        target = draw(st.sampled_from(models + [(u, None) for u in uses]))
        allowed = _keys(target[1]) if target[1] else ["use", "as", "with"]
        key = draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10).filter(lambda k: k not in allowed))
        target[0][key] = draw(st.sampled_from([1, "x", [1, 2], True]))
    elif mutation == "template_arg":
        use = draw(st.sampled_from(uses))
        how = draw(st.sampled_from(["extra", "missing", "unknown_template", "no_as"]))
        if how == "extra":
            use.setdefault("with", {})["zz_" + draw(st.text("abc", max_size=3))] = 1
        elif how == "missing" and use.get("with"):
            del use["with"][draw(st.sampled_from(sorted(use["with"])))]
        elif how == "no_as":
            del use["as"]
        else:
            use["use"] = use["use"] + draw(st.sampled_from(["x", "_2", "s"]))
    else:  # a param with a bad value for every use
        key = draw(st.sampled_from(sorted(data["params"])))
        data["params"][key] = draw(st.sampled_from([-3, 0, "abc", [1, -2]]))
    return name, mutation, data


def _check(text: str):
    with pytest.raises(SpecError) as info:
        loads_spec(text, file="mut.yaml")
    problems = info.value.problems
    assert problems
    for p in problems:
        assert p.file == "mut.yaml"
        assert p.line > 0 and p.col > 0, str(p)
        assert p.path and p.path != "<root>", str(p)
        assert p.message, str(p)
    return problems


@SETTINGS
@given(mutated_specs())
def test_mutated_specs_give_located_spec_errors(case):
    name, mutation, data = case
    text = yaml.safe_dump(data, sort_keys=False)
    try:
        _check(text)
    except pytest.fail.Exception:
        raise AssertionError(f"{mutation} of {name} was accepted:\n{text}") from None


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_truncated_or_garbled_text_never_crashes(data):
    text = (SPECS / data.draw(st.sampled_from(sorted(SOURCES)))).read_text()
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(max_size=8))
    try:
        loads_spec(text[:cut] + junk + text[cut:], file="mut.yaml")
    except SpecError as exc:
        for p in exc.problems:
            assert p.file == "mut.yaml" and p.line > 0 and p.col > 0, str(p)


def test_one_problem_per_mistake():
    data = copy.deepcopy(SOURCES["tiny_tree.yaml"])
    data["nodes"][1]["channels"] = -1           # conv1
    data["nodes"][2]["kind"] = "batchnrom"      # bn1
    data["nodes"][8]["chanels"] = 3             # a.conv
    del data["nodes"][10]["input"]              # a.pool
    problems = _check(yaml.safe_dump(data, sort_keys=False))
    assert [p.path for p in problems] == ["nodes.1.channels", "nodes.2.kind", "nodes.8.chanels", "nodes.10.input"]
