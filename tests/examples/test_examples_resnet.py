"""The ResNet example (examples/resnet_plugin), from outside its package: its ``residual_block`` kind
reaches routegraph through the public API only, by the entry point its pyproject.toml declares (a
CLI process) or by ``register_kind`` (this process). The oracles: FlopCounterMode and the built
module for each block's ops and parameters; FlopCounterMode around ``route()`` forced down each
path for the paths' ops; the dense network for path-only inference."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import routegraph
from example_helpers import EXAMPLES, ROOT, link_examples, run_commands, section, sh_blocks, spread_decisions
from infer_helpers import assert_same_routing, mixed_force, randomize
from routegraph.errors import SpecError
from routegraph.infer import dense_route
from routegraph.kinds import TensorShape, kind_names
from user_modules import forget

PLUGIN = EXAMPLES / "resnet_plugin"
SPEC = PLUGIN / "spec.yaml"
SMALL = {"width": 4}  # the same graph, narrower: fast enough for a test


@pytest.fixture
def resnet(monkeypatch):
    """The plugin imported from its directory and registered with ``routegraph.register_kind``."""
    assert "residual_block" not in kind_names()
    monkeypatch.syspath_prepend(str(PLUGIN))
    import routegraph_resnet

    routegraph_resnet.register()
    try:
        yield routegraph_resnet
    finally:
        routegraph.unregister_kind("residual_block")
        forget("routegraph_resnet")


def macs(fn):
    with FlopCounterMode(display=False) as counter:
        out = fn()
    return counter.get_total_flops() / 2, out


def images(n: int, seed: int):
    """``n`` images and labels from the example's own data script."""
    sys.path.insert(0, str(PLUGIN))
    try:
        import make_data
    finally:
        sys.path.remove(str(PLUGIN))
        sys.modules.pop("make_data", None)
    return make_data.images(n, np.random.default_rng(seed))


@pytest.mark.parametrize("cin, channels, stride, projection, h, w", [
    (16, 16, 1, "auto", 40, 40),     # identity shortcut
    (16, 32, 2, "auto", 40, 40),     # projection: stride and width change
    (8, 8, 2, "auto", 7, 9),         # odd, non-square: ceil(7/2) x ceil(9/2)
    (8, 8, 1, "always", 5, 3),       # a projection asked for
    (4, 6, 1, "auto", 1, 1),         # 1x1 map: the 3x3 kernels count in full, as torch computes them
])
def test_the_blocks_rule_is_what_the_module_computes(resnet, cin, channels, stride, projection, h, w):
    from routegraph_resnet.blocks import build

    config = {"channels": channels, "stride": stride, "projection": projection}
    facts = resnet.rule(config, (TensorShape((cin, h, w)),))
    module = build(SimpleNamespace(config=config, in_shapes=(TensorShape((cin, h, w)),))).eval()
    counted, out = macs(lambda: module(torch.randn(2, cin, h, w)))
    assert counted == 2 * facts.ops
    assert sum(p.numel() for p in module.parameters()) == facts.params
    assert tuple(out.shape[1:]) == facts.out_shape.dims
    assert isinstance(module.shortcut, torch.nn.Identity) == (stride == 1 and cin == channels and projection == "auto")


def test_the_rule_refuses_what_is_not_a_map(resnet):
    from routegraph.kinds import ShapeProblem

    with pytest.raises(ShapeProblem, match="one \\(C, H, W\\) map"):
        resnet.rule({"channels": 4}, (TensorShape((12,)),))


def test_unknown_until_registered_then_each_forced_path_costs_its_ops(resnet):
    routegraph.unregister_kind("residual_block")
    with pytest.raises(SpecError, match="unknown kind 'residual_block'"):
        routegraph.load_spec(SPEC)
    resnet.register()
    graph = routegraph.compile_spec(routegraph.load_spec(SPEC, SMALL))
    assert graph.input_shape.dims == (3, 40, 40) and len(graph.paths) == 4
    assert sorted(len(j.sinks) for j in graph.junctions) == [2, 3]
    model = randomize(routegraph.build_model(graph), seed=1)
    x = torch.rand(6, 3, 40, 40)
    for exit_index, path in enumerate(graph.paths):
        force = {j.name: torch.zeros(6, dtype=torch.long) for j in graph.junctions}
        for junction, sink in path.decisions:
            force[junction].fill_(sink)
        counted, out = macs(lambda: routegraph.route(model, x, force=force))
        assert out.exit.tolist() == [exit_index] * 6
        assert counted == 6 * path.ops == out.total_ops
    exits, force = mixed_force(graph, 9, seed=3)
    counted, out = macs(lambda: routegraph.route(model, torch.rand(9, 3, 40, 40), force=force))
    assert torch.equal(out.exit, exits) and counted == sum(graph.paths[e].ops for e in exits.tolist())


def test_trains_on_arrays_routes_path_only_like_dense_and_renders(resnet, tmp_path):
    from routegraph.cli.main import main

    x, y = images(24, seed=0)
    x_test, y_test = images(16, seed=1)
    task = routegraph.Task.from_arrays(x, y, x_test, y_test, class_names=["bars-h", "bars-v", "disk", "ring"])
    config = routegraph.TrainConfig(method="actor", k_cpt=1e-8, iterations=3, batch_size=8)
    result = routegraph.train_run(SPEC, tmp_path / "run", config, task=task, overrides=SMALL, progress=False)
    assert [e["n"] for e in result.evaluations] == [16]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["augmentation"] == {"applied": True}
    run = routegraph.load_run(tmp_path / "run")
    x_eval = task.test_images
    spread_decisions(run.model, x_eval)
    out, ref = routegraph.route(run.model, x_eval), dense_route(run.model, x_eval)
    assert_same_routing(out, ref, logits_tol=1e-5)
    assert len(set(out.exit.tolist())) > 2, "most took one path: the comparison would not cover the junctions"
    flow, arch = tmp_path / "flow.svg", tmp_path / "arch.svg"
    assert main(["render", str(tmp_path / "run"), "--dataflow", "classes", "-o", str(flow)]) == 0
    assert all(name in flow.read_text() for name in ("bars-h", "ring"))
    assert main(["render", str(SPEC), "-o", str(arch)]) == 0 and "residual_block" in arch.read_text()


def _docs_commands() -> list[str]:
    text = section((ROOT / "docs" / "examples.md").read_text(encoding="utf-8"),
                   "## A routed ResNet whose block is a plugin kind")
    return sh_blocks(text)


def test_the_documented_commands_run(resnet, tmp_path, monkeypatch):
    """docs/examples.md's commands, in a fresh directory; ``pip install`` is what ``resnet`` did."""
    link_examples(tmp_path)
    monkeypatch.chdir(tmp_path)
    ran = run_commands(_docs_commands(), {"--iterations": "2", "--batch-size": "8", "--train": "16", "--test": "8"},
                       {"train": ["--set", "width=2"], "compile": ["--set", "width=2"]})
    assert any(line.startswith("routegraph train") for line in ran) and len(ran) == len(_docs_commands()) - 1
    assert (tmp_path / "runs" / "resnet-ac" / "eval.json").is_file()
    assert (tmp_path / "resnet-flow.svg").stat().st_size and (tmp_path / "resnet-arch.svg").stat().st_size


def _entry_points() -> str:
    """The entry points the plugin's pyproject.toml declares, as an installed distribution lists them."""
    declared = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["entry-points"]["routegraph.kinds"]
    assert declared, "the plugin declares no routegraph.kinds entry point"
    return "[routegraph.kinds]\n" + "".join(f"{name} = {value}\n" for name, value in declared.items())


def test_the_entry_point_makes_the_kind_known_to_the_cli(tmp_path):
    """As after ``pip install``: a dist-info with the plugin's entry points beside its package on the path."""
    site = tmp_path / "site"
    info = site / "routegraph_resnet-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: routegraph-resnet\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(_entry_points())
    x, y = images(8, seed=0)
    np.savez(tmp_path / "images.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])

    def cli(*args, path):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)]), "OMP_NUM_THREADS": "1"}
        return subprocess.run([sys.executable, "-m", "routegraph", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    without = cli("compile", str(SPEC), path=[str(PLUGIN)])  # the package importable, but not installed
    assert without.returncode == 2 and "unknown kind 'residual_block'" in without.stderr
    run = tmp_path / "run"
    result = cli("train", str(SPEC), "--set", "width=2", "--data", f"npz:{tmp_path / 'images.npz'}",
                 "--iterations", "2", "--batch-size", "4", "--no-progress", "--out", str(run),
                 path=[str(site), str(PLUGIN)])
    assert result.returncode == 0, result.stderr
    compiled = json.loads((run / "compiled.json").read_text())
    blocks = [n for n in compiled["nodes"] if n["kind"] == "residual_block"]
    assert [n["name"] for n in blocks] == ["s1.block", "s2.block", "s3.block", "s4.block"]
    sys.path.insert(0, str(PLUGIN))  # the rule, computed here, is what the CLI process compiled with
    try:
        import routegraph_resnet

        for node in blocks:
            facts = routegraph_resnet.rule(node["config"], (TensorShape(tuple(node["in_shapes"][0])),))
            assert (node["ops"], node["params"]) == (facts.ops, facts.params)
    finally:
        sys.path.remove(str(PLUGIN))
        forget("routegraph_resnet")
