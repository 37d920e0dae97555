"""The worked example of docs/spec.md, "Your own layer kinds", runs as written and does what the
text says."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from routegraph.errors import SpecError
from routegraph.kinds import kind_names, registered

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
SPEC = """
name: scaled
input: {shape: [2, 4, 4]}
nodes:
  - {name: h, kind: conv2d, input: image, channels: 3}
  - {name: s, kind: scale, input: h, init: 0.5}
  - {name: f, kind: flatten, input: s}
  - {name: out, kind: classifier, input: f, classes: 2}
"""


def _example() -> str:
    section = DOC.read_text(encoding="utf-8").split("## Your own layer kinds", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_kind_works_as_the_text_says():
    import torch

    import routegraph
    from routegraph.infer import dense_route, route

    assert "scale" not in kind_names()
    with pytest.raises(SpecError, match="unknown kind 'scale'"):
        routegraph.loads_spec(SPEC)
    with registered():  # whatever the example registers is gone afterwards
        exec(compile(_example(), str(DOC), "exec", dont_inherit=True), {"__name__": "docs_example"})
        with pytest.raises(SpecError, match="unknown key 'int'; did you mean 'init'"):
            routegraph.loads_spec(SPEC.replace("init: 0.5", "int: 0.5"))
        graph = routegraph.compile_spec(routegraph.loads_spec(SPEC))
        node = graph.node("s")
        assert (node.ops, node.params, node.out_shape.dims) == (0, 3, (3, 4, 4))
        model = routegraph.build_model(graph).eval()
        x = torch.randn(5, 2, 4, 4)
        h = model.nodes["h"](x)
        torch.testing.assert_close(model.nodes["s"](h), 0.5 * h)
        assert torch.equal(route(model, x).predictions, dense_route(model, x).predictions)
    assert "scale" not in kind_names()


def test_the_documented_flop_check_of_a_module_node_agrees_with_the_compiled_ops():
    """spec.md's recipe for checking ops with FlopCounterMode, run as written on the routed transformer
    (TransformerEncoderLayer nodes): with only the math kernel, the eval-mode fast path hides the
    encoder's products and the count falls short."""
    import torch

    import routegraph

    section = DOC.read_text(encoding="utf-8").split("### `module`", 1)[1].split("\n### ", 1)[0]
    recipe = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    graph = routegraph.compile_spec(routegraph.load_spec(DOC.parents[1] / "specs" / "transformer_routed.yaml"))
    model = routegraph.build_model(graph).eval()
    x = torch.randn(3, *graph.input_shape.dims, generator=torch.Generator().manual_seed(0))
    names = {"routegraph": routegraph, "model": model, "x": x}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        exec(compile(recipe, str(DOC), "exec", dont_inherit=True), names)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    assert names["macs"] == names["out"].total_ops == sum(graph.paths[k].ops for k in names["out"].exit.tolist())
