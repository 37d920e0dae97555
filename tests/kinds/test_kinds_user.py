"""A kind defined in user code (here, in this test), end to end through ``routegraph.register_kind``:
validation and did-you-mean, JSON Schema, compile (ops against FlopCounterMode), build, a
training step, path-only inference equal to the dense model; gone after unregistering."""
from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

import routegraph
from routegraph.errors import SpecError
from routegraph.kinds import LayerFacts, Strict, kind_names, registered
from routegraph.kinds.shapes import one_input
from routegraph.spec import loads_spec

#: The issue's example; a later built-in gelu would make it a different user kind's name.
NAME = "gelu" if "gelu" not in kind_names() else "gelu_user"


class UserGeluLayer(Strict):
    """Gaussian error linear unit (a user's kind)."""

    kind: Literal[NAME]  # type: ignore[valid-type]
    approximate: Literal["none", "tanh"] = Field("none", description="'tanh': the tanh approximation")


def gelu_rule(config, in_shapes):
    return LayerFacts(one_input(in_shapes, NAME), ops=0, params=0)


def build_gelu(layer):
    from torch import nn

    return nn.GELU(approximate=layer.config["approximate"])


GELU = routegraph.LayerKind(NAME, UserGeluLayer, gelu_rule, build_gelu, in_router=True)

SPEC = f"""
name: user_kind
input: {{shape: [6]}}
nodes:
  - {{name: h, kind: linear, input: image, features: 8}}
  - {{name: g, kind: {NAME}, input: h}}
  - {{name: j, kind: junction, sinks: [a, deep],
      router: {{reads: g, layers: [{{kind: {NAME}, approximate: tanh}}, {{kind: linear, features: 2}}]}}}}
  - {{name: a, kind: classifier, input: g, classes: 3}}
  - {{name: deep, kind: linear, input: g, features: 5}}
  - {{name: dg, kind: {NAME}, input: deep, approximate: tanh}}
  - {{name: b, kind: classifier, input: dg, classes: 3}}
"""


@pytest.fixture
def gelu():
    with registered(GELU):
        yield GELU
    assert NAME not in kind_names()


def test_unknown_before_registration_and_after_unregistering():
    with pytest.raises(SpecError) as info:
        loads_spec(SPEC, file="s.yaml")
    message = str(info.value)
    assert f"unknown kind {NAME!r}" in message
    if NAME == "gelu":
        assert "unknown kind 'gelu'; did you mean 'relu'?" in message  # the example
    with registered(GELU):
        assert loads_spec(SPEC).nodes[1].kind == NAME
    with pytest.raises(SpecError, match=f"unknown kind {NAME!r}"):
        loads_spec(SPEC)


def test_user_kind_validates_and_is_in_did_you_mean_and_the_schema(gelu):
    from routegraph.spec.jsonschema import spec_json_schema

    with pytest.raises(SpecError) as info:
        loads_spec(SPEC.replace(f"kind: {NAME}, input: h", f"kind: {NAME}x, input: h"))
    assert f"unknown kind '{NAME}x'; did you mean {NAME!r}?" in str(info.value)
    with pytest.raises(SpecError, match="must be 'none' or 'tanh'"):
        loads_spec(SPEC.replace("approximate: tanh}", "approximate: erf}"))
    with pytest.raises(SpecError, match="unknown key 'aproximate'; did you mean 'approximate'"):
        loads_spec(SPEC.replace("input: deep, approximate", "input: deep, aproximate"))
    defs = spec_json_schema()["$defs"]
    assert defs["UserGeluNode"]["properties"]["kind"]["const"] == NAME
    assert defs["UserGeluLayer"]["properties"]["approximate"]["description"] == "'tanh': the tanh approximation"
    assert "UserGeluNode" not in _schema_without_it()


def _schema_without_it():
    from routegraph.spec.jsonschema import spec_json_schema

    with registered():  # the registry as it is: the fixture's kind is still there, so unregister
        routegraph.unregister_kind(NAME)
        return spec_json_schema()["$defs"]


def test_user_kind_compiles_builds_trains_and_routes_like_the_dense_model(gelu):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from infer.infer_helpers import assert_same_routing, randomize
    from routegraph.infer import dense_route, route
    from routegraph.infer.plan import plan_for

    graph = routegraph.compile_spec(loads_spec(SPEC))
    # hand count: h 6x8, router 8x2 (gelu: 0), a 8x3 | deep 8x5, b 5x3
    assert [p.ops for p in graph.paths] == [48 + 16 + 24, 48 + 16 + 40 + 15]
    model = routegraph.build_model(graph)
    assert graph.total_params == sum(p.numel() for p in model.parameters())
    assert isinstance(model.nodes["dg"], torch.nn.GELU) and model.nodes["dg"].approximate == "tanh"

    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.nodes["deep"].weight.detach().clone()
    out = model(x)
    loss = sum(torch.nn.functional.cross_entropy(logits, y) for logits in out.logits.values())
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and not torch.equal(before, model.nodes["deep"].weight)

    model = randomize(model.double(), seed=1)
    x = torch.randn(64, 6, dtype=torch.float64)
    reference = dense_route(model, x)
    assert len(set(reference.exit.tolist())) == 2, "the test needs examples on both paths"
    with FlopCounterMode(display=False) as counter:
        routed = route(model, x)
    assert_same_routing(routed, reference)
    assert counter.get_total_flops() / 2 == routed.total_ops
    steps = {out_name: fn for region in plan_for(model).regions for fn, _, out_name, _ in region.steps}
    assert steps["dg"] is model.nodes["dg"], "a kind without a kernel runs its own module"


def test_a_user_kernel_runs_in_routed_inference(gelu):
    """With a kernel, routed inference runs the kernel's callable instead of the module."""
    import dataclasses

    import torch

    from infer.infer_helpers import assert_same_routing, randomize
    from routegraph.infer import dense_route, route
    from routegraph.infer.plan import plan_for

    made = []

    def gelu_kernel(module, layer, options):
        def run(x):
            return torch.nn.functional.gelu(x, approximate=layer.config["approximate"])
        made.append(run)
        return run

    with registered(dataclasses.replace(GELU, kernel=gelu_kernel), replace=True):
        model = randomize(routegraph.build_model(routegraph.compile_spec(loads_spec(SPEC))).double(), seed=1)
        x = torch.randn(64, 6, dtype=torch.float64)
        assert_same_routing(route(model, x), dense_route(model, x))
        steps = {out: fn for region in plan_for(model).regions for fn, _, out, _ in region.steps}
        assert steps["g"] in made and steps["dg"] in made


class HookLayer(Strict):
    """A user kind whose nodes import a function named in the spec."""

    kind: Literal["hooked"]
    function: str = Field(description="package.module:attr")


def test_a_user_kind_that_imports_code_asks_the_same_permission_as_module():
    """``LayerKind.imports``: the loader checks the named targets before anything is imported."""
    import sys

    hooked = routegraph.LayerKind("hooked", HookLayer, gelu_rule, build_gelu,
                                  imports=lambda config: {"function": config["function"]})
    text = ("name: h\ninput: {shape: [4]}\nnodes:\n"
            "  - {name: a, kind: hooked, input: image, function: 'rg_user_helpers.funcs:scale'}\n"
            "  - {name: out, kind: classifier, input: a, classes: 2}\n")
    with registered(hooked):
        with pytest.raises(SpecError) as refused:
            loads_spec(text, file="h.yaml")
        assert "rg_user_helpers" not in sys.modules, "loading imports nothing (no such module exists)"
        problem = refused.value.problems[0]
        assert (problem.path, problem.line) == ("nodes.0.function", 4) and "--allow-import" in problem.allowed
        assert loads_spec(text, file="h.yaml", allow_import=["rg_user_helpers"]).nodes[0].function == "rg_user_helpers.funcs:scale"
