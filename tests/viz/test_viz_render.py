"""Writing diagrams and figures; the fallback when graphviz's dot is missing."""
import shutil

import graphviz
import pytest

import viz_fakes
from routegraph.errors import ConfigError
from routegraph.viz.architecture import architecture_dot
from routegraph.viz.render import dot_available, figure_bytes, new_figure, render_diagram, save_figure, write_diagram

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed")


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_render_formats(tmp_path, chain, suffix, magic):
    result = render_diagram(architecture_dot(chain), tmp_path / f"arch{suffix}")
    assert result.rendered and result.message == f"wrote {tmp_path / f'arch{suffix}'}"
    assert (tmp_path / f"arch{suffix}").read_bytes().startswith(magic)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind


def test_source_only(tmp_path, chain):
    result = render_diagram(architecture_dot(chain), tmp_path / "arch.gv")
    assert not result.rendered and "dot -Tsvg" in result.message
    assert (tmp_path / "arch.gv").read_text().startswith("digraph tiny_chain {")


def test_unknown_format(tmp_path, chain):
    with pytest.raises(ConfigError, match=r"cannot write a diagram as '.jpeg'"):
        render_diagram(architecture_dot(chain), tmp_path / "arch.jpeg")
    with pytest.raises(ConfigError, match="figure"):
        save_figure(new_figure(2, 2), tmp_path / "x.gv")


def assert_fallback(tmp_path, result):
    assert not result.rendered
    assert result.path == tmp_path / "arch.gv" and result.path.read_text().startswith("digraph")
    assert not (tmp_path / "arch.svg").exists()
    assert f"dot -Tsvg {tmp_path / 'arch.gv'} -o {tmp_path / 'arch.svg'}" in result.message
    assert "'dot' program was not found" in result.message


def test_dot_missing_from_path(tmp_path, chain, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert not dot_available()
    assert_fallback(tmp_path, render_diagram(architecture_dot(chain), tmp_path / "arch.svg"))


def test_dot_missing_simulated(tmp_path, chain, monkeypatch):
    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    assert_fallback(tmp_path, render_diagram(architecture_dot(chain), tmp_path / "arch.svg"))
    # what `routegraph compile --render` prints
    assert "was not drawn" in write_diagram(architecture_dot(chain), tmp_path / "arch.svg")


def test_figures_are_reproducible(tmp_path):
    def figure():
        fig = new_figure(3, 2)
        ax = fig.add_subplot()
        ax.plot([0, 1], [1, 0], label="a")
        ax.set_xlabel("x")
        return fig

    assert figure_bytes(figure(), "svg") == figure_bytes(figure(), "svg")
    path = save_figure(figure(), tmp_path / "f.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_compile_command_uses_the_renderer(tmp_path, monkeypatch):
    """`routegraph compile --dot/--render` calls architecture_dot and write_diagram."""
    from routegraph.cli import compile_cmd

    graph = viz_fakes.chain_graph()
    monkeypatch.setattr("routegraph.graph.compile_spec", lambda *a, **k: graph)
    monkeypatch.setattr("routegraph.spec.load_spec", lambda *a, **k: None)
    args = type("Args", (), {"spec": "x.yaml", "set": None, "k_cpt_input": False, "json": None, "quiet": True,
                             "dot": str(tmp_path / "a.gv"), "render": str(tmp_path / "a.svg")})()
    assert compile_cmd.run(args) == 0
    assert (tmp_path / "a.gv").read_text().startswith("digraph")
    assert (tmp_path / "a.svg").exists() or (tmp_path / "a.gv").exists()
