"""``routegraph compile SPEC``: validate, print shapes/ops/paths; optional JSON and diagram."""
from __future__ import annotations

from .options import output_file


def add_arguments(parser):
    parser.add_argument("spec", help="the network spec (YAML)")
    parser.add_argument("--set", action="append", metavar="PARAM=VALUE", help="override a spec parameter, e.g. width=2")
    parser.add_argument("--json", metavar="FILE", type=output_file, help="write the compiled graph as JSON ('-' for stdout)")
    parser.add_argument("--dot", metavar="FILE", type=output_file, help="write the architecture diagram's graphviz source")
    parser.add_argument("--render", metavar="FILE", type=output_file, help="render the architecture diagram (.svg, .png or .pdf)")
    parser.add_argument("--k-cpt-input", action="store_true", help="compile routers that read k_cpt (dynamic k_cpt)")
    parser.add_argument("--quiet", action="store_true", help="no summary")


def run(args) -> int:
    from ..graph import compile_spec
    from ..graph.summary import summarize_graph
    from ..io import atomic_write_text
    from ..spec import load_spec, parse_overrides

    graph = compile_spec(load_spec(args.spec, parse_overrides(args.set or [])), k_cpt_input=args.k_cpt_input)
    if args.json == "-":
        print(graph.dumps())
        return 0
    if not args.quiet:
        print(summarize_graph(graph))
    if args.json:
        atomic_write_text(args.json, graph.dumps() + "\n")
        print(f"wrote {args.json}")
    if args.dot or args.render:
        from ..viz.architecture import architecture_dot
        from ..viz.render import write_diagram

        dot = architecture_dot(graph)
        if args.dot:
            atomic_write_text(args.dot, dot.source)
            print(f"wrote {args.dot}")
        if args.render:
            print(write_diagram(dot, args.render))
    return 0
