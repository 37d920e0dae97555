"""Every built-in kind is one registry entry, and the compiler, the builders and routed
inference reach it through the registry; declarations are checked when registered."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
import yaml

from routegraph.errors import KindError, SpecError, UnknownNameError
from routegraph.kinds import (
    LayerKind, Strict, get_kind, kind_names, kinds, register_kind, registered, unregister_kind,
)
from routegraph.kinds import relu as relu_kind
from routegraph.spec.schema import spec_types

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.yaml"), key=lambda p: p.stat().st_size)
BUILTIN = [k.name for k in kinds()]


def _kinds_used(path: Path) -> set[str]:
    """Every ``kind:`` written anywhere in a spec file (nodes, routers, blocks, templates)."""
    found: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            if isinstance(value.get("kind"), str):
                found.add(value["kind"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found


def test_the_builtin_kinds_are_the_registry_and_the_spec_language():
    types = spec_types()
    assert set(BUILTIN) == set(types.node_kinds) - {"junction"}
    assert {m.__name__ for m in types.layer_models} == {k.config.__name__ for k in kinds() if not k.node_only}
    assert set(types.router_kinds) == {k.name for k in kinds() if k.in_router}
    assert "classifier" in BUILTIN and "classifier" not in types.layer_kinds  # a graph node, never a router step
    assert spec_types() is types, "built once per state of the registry"
    with registered(LayerKind("mine", _model("mine"), _rule, relu_kind.build)):
        assert spec_types() is not types and "mine" in spec_types().node_kinds
    assert spec_types() is types


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_kind_goes_through_the_registry(name):
    """Wrapping a kind's rule, builder and kernel in the registry is seen by compile, build and route."""
    import torch

    from routegraph.graph import compile_spec
    from routegraph.infer import route
    from routegraph.nn import build_model
    from routegraph.spec import load_spec

    kind = get_kind(name)
    assert dataclasses.replace(kind) == kind and kind.config.model_fields["kind"].annotation.__args__ == (name,)
    path = next(p for p in SPECS if name in _kinds_used(p))
    calls = {"rule": 0, "build": 0, "kernel": 0}

    def counted(what, fn):
        def wrapper(*args):
            calls[what] += 1
            return fn(*args)
        return wrapper

    factory = kind.kernel_factory()
    wrapped = dataclasses.replace(kind, rule=counted("rule", kind.rule), build=counted("build", kind.builder()),
                                  kernel=None if factory is None else counted("kernel", factory))
    plain = compile_spec(load_spec(path))
    with registered(wrapped, replace=True):
        graph = compile_spec(load_spec(path))
        model = build_model(graph).eval()
        out = route(model, torch.rand(2, *graph.input_shape.dims))
    assert get_kind(name) is kind, "the registry is restored"
    assert calls["rule"] > 0 and calls["build"] > 0
    assert calls["kernel"] <= calls["build"], "at most one kernel per built module"
    if factory is not None and _unfused_uses(graph, name):
        assert calls["kernel"] > 0, "routed inference asks the kind for its kernel"
    assert [p.ops for p in graph.paths] == [p.ops for p in plain.paths]
    assert out.ops.shape == (2,)


def _unfused_uses(graph, name: str) -> int:
    """Uses of kind ``name`` that infer/plan's peephole does not fuse into the layer before
    (a relu after conv2d, linear or batchnorm)."""
    before = {n.name: n.kind for n in graph.nodes}
    fusing = ("conv2d", "linear", "batchnorm")
    uses = [n for n in graph.nodes if n.kind == name and not (name == "relu" and before.get(n.inputs[0]) in fusing)]
    for j in graph.junctions:
        kinds_ = [layer.kind for layer in j.router]
        uses += [k for i, k in enumerate(kinds_) if k == name and not (name == "relu" and i and kinds_[i - 1] in fusing)]
    return len(uses)


def _model(name: str, field: str = "kind"):
    return type("Config", (Strict,), {"__annotations__": {field: Literal[name]}})


def _rule(config, in_shapes):
    return relu_kind.rule(config, in_shapes)


@pytest.mark.parametrize("fields, message", [
    ({"name": "Bad-Name"}, "name 'Bad-Name' is invalid"),
    ({"name": "junction", "config": _model("junction")}, "reserved"),
    ({"config": dict}, "config must be a pydantic model class"),
    ({"config": _model("other")}, "must declare the field kind: Literal['mine']"),
    ({"config": _model("mine", "type")}, "must declare the field kind"),
    ({"config": type("Loose", (__import__("pydantic").BaseModel,), {"__annotations__": {"kind": Literal["mine"]}})},
     "must forbid unknown keys"),
    ({"rule": None}, "rule must be callable"),
    ({"build": "no colon"}, "build must be a callable or a 'package.module:attr' string"),
    ({"kernel": 3}, "kernel must be None"),
    ({"node_only": True}, "a node_only config must declare 'name' and 'input'"),
])
def test_a_bad_declaration_is_a_clear_error(fields, message):
    declared = {"name": "mine", "config": _model("mine"), "rule": _rule, "build": relu_kind.build, **fields}
    with pytest.raises(KindError, match=None) as info:
        register_kind(**declared)
    assert message in str(info.value)
    assert "mine" not in kind_names()


def test_register_twice_replace_and_unregister():
    kind = LayerKind("mine", _model("mine"), _rule, relu_kind.build)
    assert register_kind(kind) is kind
    try:
        with pytest.raises(KindError, match="'mine' is already registered; pass replace=True"):
            register_kind(kind)
        other = dataclasses.replace(kind, in_router=True)
        register_kind(other, replace=True)
        assert get_kind("mine") is other and "mine" in spec_types().router_kinds
    finally:
        assert unregister_kind("mine").name == "mine"
    assert "mine" not in kind_names() and "mine" not in spec_types().node_kinds
    with pytest.raises(UnknownNameError, match="unknown layer kind 'mine'"):
        unregister_kind("mine")
    with pytest.raises(KindError, match="is already registered"):
        register_kind(relu_kind.KINDS[0])
    with pytest.raises(KindError, match="register_kind: .*unexpected keyword"):
        register_kind(name="mine", colour="red")


def test_a_string_target_is_resolved_on_first_use_and_a_bad_one_is_named():
    kind = LayerKind("mine", _model("mine"), _rule, "routegraph.kinds.relu:build")
    assert kind.builder() is relu_kind.build
    broken = LayerKind("mine", _model("mine"), _rule, "routegraph.kinds.relu:no_such_builder")
    with pytest.raises(KindError, match="layer kind 'mine': its build 'routegraph.kinds.relu:no_such_builder' "
                                        "cannot be imported"):
        broken.builder()


def test_a_kind_registered_later_joins_validation_and_leaves_with_it():
    from routegraph.spec import loads_spec

    text = "name: t\ninput: {shape: [4]}\nnodes:\n  - {name: m, kind: mine, input: image}\n" \
           "  - {name: out, kind: classifier, input: m, classes: 2}\n"
    with pytest.raises(SpecError, match="unknown kind 'mine'"):
        loads_spec(text)
    with registered(LayerKind("mine", _model("mine"), _rule, relu_kind.build)):
        assert loads_spec(text).nodes[0].kind == "mine"
    with pytest.raises(SpecError, match="unknown kind 'mine'"):
        loads_spec(text)


def test_kinds_spec_and_graph_never_import_torch():
    code = (
        "import sys\n"
        "import routegraph, routegraph.kinds, routegraph.spec, routegraph.graph\n"
        "assert routegraph.register_kind is routegraph.kinds.register_kind\n"
        "assert len(routegraph.kinds.kinds()) >= 13\n"
        "from routegraph.spec.schema import spec_types\n"
        "spec_types()\n"
        "routegraph.graph.compile_spec(routegraph.spec.load_spec('specs/tiny_chain.yaml'))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def _leaky(layer):
    import torch.nn.functional as F

    from routegraph.nn.layers import Lambda

    return Lambda(lambda x: F.leaky_relu(x, 0.5), "leaky")


def test_a_replaced_builtin_kind_is_not_fused_as_the_old_one():
    """infer/plan fuses conv2d/linear + batchnorm + relu by name, but only for the built-in modules."""
    import torch

    from infer.infer_helpers import assert_same_routing, randomize
    from routegraph.graph import compile_spec
    from routegraph.infer import dense_route, route
    from routegraph.nn import build_model
    from tiny_graphs import tiny_chain_spec

    with registered(dataclasses.replace(get_kind("relu"), build=_leaky, kernel=None), replace=True):
        graph = compile_spec(tiny_chain_spec())
        model = randomize(build_model(graph).double(), seed=2)
        x = torch.randn(32, *graph.input_shape.dims, dtype=torch.float64)
        reference = dense_route(model, x)
        assert (reference.logits < 0).any()
        assert_same_routing(route(model, x), reference)


def test_specs_pickle_with_the_derived_models():
    """Loaded specs travel to worker processes (pickle), their node classes derived or not."""
    import pickle

    from routegraph.spec import load_spec, loads_spec

    spec = load_spec(ROOT / "specs" / "tiny_tree.yaml")
    assert pickle.loads(pickle.dumps(spec)) == spec
    with registered(LayerKind("mine", _model("mine"), _rule, relu_kind.build)):
        mine = loads_spec("name: t\ninput: {shape: [4]}\nnodes:\n  - {name: m, kind: mine, input: image}\n")
        assert pickle.loads(pickle.dumps(mine)) == mine
