"""Templates, blocks, params and --set overrides."""
from __future__ import annotations

import textwrap

import pytest

from routegraph.errors import ConfigError, SpecError
from routegraph.spec import load_spec, loads_spec, parse_overrides


def load(text: str, **kwargs):
    if text.startswith(HEAD) and not text.startswith(ARGS):  # dedent what follows the shared head
        text = HEAD + textwrap.dedent(text[len(HEAD):])
    return loads_spec(text, file="t.yaml", **kwargs)


def nodes(spec):
    return {n.name: n for n in spec.nodes}


def problems(text: str, **kwargs) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(text, **kwargs)
    return [str(p) for p in info.value.problems]


HEAD = """
name: t
params: {width: 2}
input: {shape: [3, 8, 8]}
"""


def test_prefixing_local_and_global_references():
    spec = load(HEAD + """
    templates:
      block:
        args: [src, ch]
        nodes:
          - {name: conv, kind: conv2d, input: "${src}", channels: "${ch * width}"}
          - {name: cat, kind: concat, input: [conv, "${src}", image]}
          - {name: flat, kind: flatten, input: cat}
    nodes:
      - {name: stem, kind: conv2d, input: image, channels: 3}
      - {use: block, as: b1, with: {src: stem, ch: 4}}
      - {use: block, as: b2, with: {src: b1.cat, ch: 1}}
      - {name: out, kind: classifier, input: b2.flat, classes: 3}
    """)
    by = nodes(spec)
    assert list(by) == ["stem", "b1.conv", "b1.cat", "b1.flat", "b2.conv", "b2.cat", "b2.flat", "out"]
    assert by["b1.conv"].input == "stem" and by["b1.conv"].channels == 8
    assert by["b1.cat"].input == ["b1.conv", "stem", "image"]
    assert by["b2.conv"].input == "b1.cat" and by["b2.conv"].channels == 2
    assert by["b2.cat"].input == ["b2.conv", "b1.cat", "image"]


NESTED = HEAD + """
blocks:
  r: [{kind: linear, features: 4}, {kind: relu}, {kind: linear, features: "${n_sinks}"}]
templates:
  unit:
    args: [src]
    nodes:
      - {name: conv, kind: conv2d, input: "${src}", channels: "${width}"}
      - {name: flat, kind: flatten, input: conv}
      - {name: exit, kind: classifier, input: flat, classes: 2}
  pair:
    args: [src]
    nodes:
      - {use: unit, as: u, with: {src: "${src}"}}
      - {name: j, kind: junction, router: {reads: u.flat, block: r}, sinks: [u.exit, v.conv, w.conv]}
      - {use: unit, as: v, with: {src: u.conv}}
      - {use: unit, as: w, with: {src: u.conv}}
nodes:
  - {use: pair, as: p, with: {src: image}}
"""


def test_nested_templates_compose_prefixes_and_pass_names_down():
    by = nodes(load(NESTED))
    assert by["p.u.conv"].input == "image"
    assert by["p.j"].router.reads == "p.u.flat"
    assert by["p.j"].sinks == ["p.u.exit", "p.v.conv", "p.w.conv"]
    assert by["p.v.conv"].input == "p.u.conv"  # a caller-local name passed as an argument
    assert by["p.j"].router.block == "r"
    assert [l.kind for l in by["p.j"].router.layers] == ["linear", "relu", "linear"]
    assert by["p.j"].router.layers[-1].features == 3  # n_sinks


def test_argument_names_resolve_in_the_caller_not_the_template():
    # The caller passes its own 'conv'; the template also has a 'conv'.
    by = nodes(load(HEAD + """
    templates:
      inner:
        args: [src]
        nodes:
          - {name: conv, kind: conv2d, input: "${src}", channels: 1}
          - {name: twice, kind: add, input: ["${src}", conv]}
      outer:
        args: []
        nodes:
          - {name: conv, kind: conv2d, input: image, channels: 1}
          - {use: inner, as: i, with: {src: conv}}
    nodes:
      - {use: outer, as: o}
    """))
    assert by["o.i.conv"].input == "o.conv"
    assert by["o.i.twice"].input == ["o.conv", "o.i.conv"]


def test_interpolated_names():
    by = nodes(load(HEAD + """
    templates:
      exit:
        args: [k]
        nodes:
          - {name: "flat${k}", kind: flatten, input: image}
          - {name: "out${k}", kind: classifier, input: "flat${k}", classes: "${k + 1}"}
    nodes:
      - {use: exit, as: "e${width}", with: {k: 3}}
    """))
    assert by["e2.out3"].input == "e2.flat3" and by["e2.out3"].classes == 4


def test_recursion_is_an_error():
    found = problems(HEAD + """
    templates:
      a: {nodes: [{use: b, as: x}]}
      b: {nodes: [{use: a, as: y}]}
    nodes:
      - {use: a, as: top}
    """)
    assert len(found) == 1 and "template recursion: a -> b -> a" in found[0]


def test_self_recursion_through_an_argument_is_an_error():
    found = problems(HEAD + """
    templates:
      a: {args: [t], nodes: [{use: "${t}", as: x, with: {t: "${t}"}}]}
    nodes:
      - {use: a, as: top, with: {t: a}}
    """)
    assert len(found) == 1 and "template recursion: a -> a" in found[0]


ARGS = HEAD + """
templates:
  col:
    args: [src, ch]
    nodes:
      - {name: conv, kind: conv2d, input: "${src}", channels: "${ch}"}
nodes:
"""


def test_missing_and_extra_arguments():
    found = problems(ARGS + """
  - {use: col, as: a, with: {src: image}}
  - {use: col, as: b, with: {src: image, ch: 2, chh: 3}}
  - {use: col, as: c}
  - {use: coll, as: d}
""")
    assert found == [
        "t.yaml:13:29: nodes.0.with: missing argument 'ch' for template 'col' (col takes: src, ch)",
        "t.yaml:14:49: nodes.1.with.chh: unknown argument 'chh' for template 'col'; did you mean 'ch'? (col takes: src, ch)",
        "t.yaml:15:5: nodes.2.with: missing arguments 'src', 'ch' for template 'col' (col takes: src, ch)",
        "t.yaml:16:11: nodes.3.use: unknown template 'coll'; did you mean 'col'? (known: col)",
    ]


def test_duplicate_instances_and_names():
    found = problems(ARGS + """
  - {use: col, as: a, with: {src: image, ch: 1}}
  - {use: col, as: a, with: {src: image, ch: 1}}
  - {name: a.conv, kind: relu, input: image}
  - {name: x, kind: relu, input: image}
  - {name: x, kind: relu, input: image}
""")
    assert found == [
        "t.yaml:14:20: nodes.1.as: duplicate instance name 'a' (first used at line 13)",
        "t.yaml:15:12: nodes.2.name: duplicate node name 'a.conv' (first defined at line 10)",
        "t.yaml:17:12: nodes.4.name: duplicate node name 'x' (first defined at line 16)",
    ]


def test_bad_template_definitions():
    found = problems(HEAD + """
    templates:
      t: {args: [ok, "not ok", ok], nodes: [{name: n, kind: relu, input: image}]}
    nodes:
      - {use: t, as: x, with: {ok: 1}}
    """)
    assert "invalid template argument 'not ok'" in found[0]
    assert "invalid template argument 'ok': is repeated" in found[1]
    assert len(found) == 2  # the use of the broken template is not reported again


def test_block_errors():
    found = problems(HEAD + """
    blocks:
      r: [{kind: linear, features: "${n_sinks}"}]
    nodes:
      - {name: f, kind: flatten, input: image}
      - {name: a, kind: classifier, input: f, classes: 2}
      - {name: j1, kind: junction, router: {reads: f, block: rr}, sinks: [a, b]}
      - {name: j2, kind: junction, router: {reads: f, block: r, layers: []}, sinks: [a, b]}
      - {name: j3, kind: junction, router: {reads: f}, sinks: [a, b]}
      - {name: j4, kind: junction, router: {reads: f, layers: [{kind: pyramid, sizes: [2]}]}, sinks: [a, b]}
    """)
    assert "unknown block 'rr'; did you mean 'r'? (known: r)" in found[0]
    assert "give either 'layers' or 'block', not both" in found[1]
    assert "a router needs 'layers'" in found[2]
    assert "a router cannot contain a 'pyramid' layer" in found[3]
    assert len(found) == 4


def test_n_sinks_in_inline_router_layers():
    spec = load(HEAD + """
    nodes:
      - {name: f, kind: flatten, input: image}
      - {name: j, kind: junction, router: {reads: f, layers: [{kind: linear, features: "${n_sinks * 1}"}]}, sinks: [a, b, c]}
    """)
    assert spec.nodes[1].router.layers[0].features == 3 and spec.nodes[1].router.block is None


def test_params_see_earlier_params_and_overrides():
    text = """
    name: "net-w${width}"
    description: "width ${width}"
    params: {width: 1, base: 8, ch: "${base * width}", sizes: [16, 8]}
    input: {shape: [3, "${sizes[0]}", "${sizes[0]}"]}
    nodes:
      - {name: c, kind: conv2d, input: image, channels: "${ch}"}
    """
    spec = load(text)
    assert spec.params == {"width": 1, "base": 8, "ch": 8, "sizes": [16, 8]}
    assert spec.name == "net-w1" and spec.description == "width 1" and spec.input.shape == [3, 16, 16]
    wide = load(text, overrides={"width": 3, "sizes": [4]})
    assert wide.params["ch"] == 24 and wide.nodes[0].channels == 24 and wide.input.shape == [3, 4, 4]
    assert wide.name == "net-w3"


def test_unknown_override_is_an_error():
    found = problems(HEAD + "nodes: [{name: c, kind: relu, input: image}]\n", overrides={"widht": 2, "depth": 1})
    assert found == [
        "t.yaml:3:9: params.widht: unknown parameter 'widht' in an override; did you mean 'width'? (params: width)",
        "t.yaml:3:9: params.depth: unknown parameter 'depth' in an override; did you mean 'width'? (params: width)",
    ]


def test_bad_override_value_is_reported_where_it_is_used():
    found = problems(HEAD + "nodes: [{name: c, kind: conv2d, input: image, channels: '${width}'}]\n",
                     overrides={"width": -1})
    assert found == ["t.yaml:5:57: nodes.0.channels: must be > 0 (got -1)"]


def test_parse_overrides():
    assert parse_overrides(["width=2", "name=wide", "eps=1e-6", "flag=true", "sizes=[8, 4]", "s='3'", "x="]) == {
        "width": 2, "name": "wide", "eps": 1e-6, "flag": True, "sizes": [8, 4], "s": "3", "x": "",
    }
    assert parse_overrides(None) == {}
    for bad in (["width"], ["=2"], ["a={b: 1}"], ["a=[1"]):
        with pytest.raises(ConfigError):
            parse_overrides(bad)


def test_capacity_variants_multiply_every_conv(tmp_path):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "specs" / "chain_8layer.yaml"
    base = load_spec(path)
    for width in (2, 3):
        wide = load_spec(path, overrides=parse_overrides([f"width={width}"]))
        for a, b in zip(base.nodes, wide.nodes):
            if a.kind == "multiscale_conv":
                assert b.channels == [c * width for c in a.channels]
            else:
                assert a == b
