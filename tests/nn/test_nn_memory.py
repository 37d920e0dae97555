"""Models too big to build are refused before anything is allocated, and the memory that
``compile`` reports is the memory the built modules take."""
from pathlib import Path

import pytest
import torch

from routegraph.errors import SpecError
from routegraph.graph import compile_spec
from routegraph.graph.summary import summarize_graph
from routegraph.nn import build_model
from routegraph.nn import model as model_module
from routegraph.nn.model import available_memory
from routegraph.spec import load_spec, loads_spec

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))
HUGE = """name: huge
input: {shape: [4]}
nodes:
  - {name: wide, kind: linear, input: image, features: 1000000000000}
  - {name: out, kind: classifier, input: wide, classes: 3}
"""


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_reported_memory_is_what_the_modules_take(path):
    graph = compile_spec(load_spec(path))
    model = build_model(graph).eval()
    assert graph.param_bytes == sum(p.numel() * p.element_size() for p in model.parameters())
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, out: outputs.extend(out if isinstance(out, tuple) else [out]))
             for m in model.nodes.values()]
    with torch.no_grad():
        model(torch.rand(1, *graph.input_shape.dims))
    for hook in hooks:
        hook.remove()
    assert graph.activation_bytes == sum(t.numel() * t.element_size() for t in outputs)
    text = summarize_graph(graph)
    assert f"{graph.total_params:,} parameters" in text and "memory (float32): parameters" in text


def test_available_memory_is_known_here():
    memory = available_memory()
    assert memory is not None and memory > 0


def test_a_network_beyond_memory_is_refused_at_its_largest_node():
    graph = compile_spec(loads_spec(HUGE, file="huge.yaml"))  # 5e12 + 3e12 parameters: 32 TB
    with pytest.raises(SpecError) as info:
        build_model(graph)
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.path) == ("huge.yaml", 4, "nodes.0")
    assert problem.message.startswith("the network has 8,000,000,000,003 parameters (32.0 TB as float32), more than")
    assert "the largest node, 'wide', has 5,000,000,000,000" in problem.message


def test_the_limit_is_the_memory_available(monkeypatch):
    graph = compile_spec(load_spec(SPECS[0]))
    monkeypatch.setattr(model_module, "available_memory", lambda: graph.param_bytes - 1)
    with pytest.raises(SpecError, match="more than the"):
        build_model(graph)
    monkeypatch.setattr(model_module, "available_memory", lambda: graph.param_bytes)
    build_model(graph)
    monkeypatch.setattr(model_module, "available_memory", lambda: None)  # unknown: no check
    build_model(graph)


def test_train_refuses_it_in_one_line_and_writes_nothing(tmp_path, capsys):
    from routegraph.cli.main import main

    spec = tmp_path / "huge.yaml"
    spec.write_text("""name: huge
input: {shape: [3, 32, 32]}
nodes:
  - {name: flat, kind: flatten, input: image}
  - {name: wide, kind: linear, input: flat, features: 1000000000000}
  - {name: out, kind: classifier, input: wide, classes: 10}
""")
    out = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(out), "--iterations", "1", "--data-option", "n_train=100"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "parameters" in err and "Traceback" not in err, err
    assert not any(out.glob("*.json")), list(out.iterdir())
