"""Import permission (routegraph/imports.py): what a spec's module nodes may import, and that
nothing is imported before it is allowed."""
from __future__ import annotations

import sys

import pytest

from routegraph import imports
from routegraph.errors import ConfigError, SpecError
from routegraph.spec import loads_spec
from user_modules import forget, write_user_package


def spec_text(target: str, args: str = "{in_features: 4, out_features: 4}") -> str:
    return f"""
name: m
input: {{shape: [4]}}
nodes:
  - {{name: a, kind: module, input: image, target: "{target}", args: {args}}}
  - {{name: out, kind: classifier, input: a, classes: 2}}
"""


@pytest.fixture
def user_package(tmp_path, monkeypatch, request):
    name = "rg_user_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    module = write_user_package(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(imports.ENV_VAR, raising=False)
    yield name, module, tmp_path / "imported.flag"
    forget(name)


@pytest.mark.parametrize("module, prefixes, allowed", [
    ("torch.nn", ("torch.nn",), True),
    ("torch.nn.modules.linear", ("torch.nn",), True),
    ("torch.nnx", ("torch.nn",), False),
    ("torch", ("torch.nn",), False),
    ("torch.n", ("torch.nn",), False),
    ("mylib.blocks.deep", ("torch.nn", "mylib"), True),
    ("mylibx", ("mylib",), False),
    ("mylib", ("mylib.blocks",), False),
])
def test_prefixes_match_on_dotted_boundaries(module, prefixes, allowed):
    assert imports.is_allowed(module, prefixes) is allowed


def test_default_env_flag_and_kwarg_combine():
    assert imports.allowed_prefixes(env={}) == ("torch.nn",)
    assert imports.allowed_prefixes(["b"], env={imports.ENV_VAR: " a , ,c.d"}) == ("torch.nn", "a", "c.d", "b")
    with pytest.raises(ConfigError, match="'a b' is not a module prefix"):
        imports.allowed_prefixes(["a b"], env={})
    with pytest.raises(ConfigError, match="not a module prefix"):
        imports.allowed_prefixes(env={imports.ENV_VAR: "torch.nn:Linear"})


@pytest.mark.parametrize("target", ["os:system", "collections:OrderedDict", "subprocess:Popen", "torch.nnx:Linear",
                                    "builtins:eval", "torch:zeros", "antigravity:geohash", "this:s"])
def test_the_default_refuses_everything_outside_torch_nn(target, monkeypatch):
    monkeypatch.delenv(imports.ENV_VAR, raising=False)
    module = target.partition(":")[0]
    before = module in sys.modules
    with pytest.raises(SpecError) as info:
        loads_spec(spec_text(target, "{}"), file="s.yaml")
    assert (module in sys.modules) == before  # antigravity, this: never imported (they act on import)
    (problem,) = info.value.problems
    assert problem.path == "nodes.0.target" and problem.line == 5
    assert "is not allowed" in problem.message
    assert "--allow-import" in problem.allowed and imports.ENV_VAR in problem.allowed


def test_torch_nn_is_allowed_by_default(monkeypatch):
    monkeypatch.delenv(imports.ENV_VAR, raising=False)
    spec = loads_spec(spec_text("torch.nn:Linear"))
    assert spec.allow_import == ("torch.nn",) and spec.nodes[0].target == "torch.nn:Linear"


def test_a_refused_target_is_never_imported(user_package):
    name, module, flag = user_package
    with pytest.raises(SpecError, match=f"import of '{module}' is not allowed"):
        loads_spec(spec_text(f"{module}:ConvRelu", "{channels: 3, out_channels: 4}"))
    with pytest.raises(ConfigError, match="is not allowed"):
        imports.resolve(f"{module}:ConvRelu", ("torch.nn", name + "x"))
    assert name not in sys.modules and module not in sys.modules and not flag.exists()


@pytest.mark.parametrize("how", ["kwarg", "env", "package", "module"])
def test_permission_by_kwarg_or_env_var(user_package, monkeypatch, how):
    name, module, flag = user_package
    kwargs = {}
    if how == "kwarg":
        kwargs["allow_import"] = [name]
    elif how == "env":
        monkeypatch.setenv(imports.ENV_VAR, f"other,{name}")
    else:
        kwargs["allow_import"] = [name if how == "package" else module]
    spec = loads_spec(spec_text(f"{module}:Outer.Inner"), **kwargs)
    assert not flag.exists()  # loading checks, it does not import
    assert imports.is_allowed(module, spec.allow_import)
    assert imports.resolve(f"{module}:Outer.Inner", spec.allow_import).__name__ == "Inner"
    assert flag.exists()


def test_the_spec_carries_the_permission_to_later_stages(user_package):
    """compile and build_model re-check the target under the permission the spec was loaded with."""
    from routegraph.graph import compile_spec

    name, module, flag = user_package
    spec = loads_spec(spec_text(f"{module}:Outer.Inner"), file="s.yaml", allow_import=[name])
    narrowed = spec.model_copy(update={"allow_import": ("torch.nn",)})
    with pytest.raises(SpecError) as info:
        compile_spec(narrowed)
    assert str(info.value).startswith("s.yaml:5:") and "nodes.0.target: import of" in str(info.value)
    assert not flag.exists()
    assert compile_spec(spec).allow_import == spec.allow_import
    assert flag.exists()


def test_granted_in_env_is_scoped(monkeypatch):
    monkeypatch.setenv(imports.ENV_VAR, "a")
    with imports.granted_in_env(["b", "c"]):
        assert imports.allowed_prefixes() == ("torch.nn", "a", "b", "c")
    assert imports.allowed_prefixes() == ("torch.nn", "a")
    monkeypatch.delenv(imports.ENV_VAR)
    with imports.granted_in_env(["b"]):
        assert imports.allowed_prefixes() == ("torch.nn", "b")
    assert imports.ENV_VAR not in __import__("os").environ
