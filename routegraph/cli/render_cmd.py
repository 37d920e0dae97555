"""``routegraph render``: architecture diagrams (graphviz) and dataflow diagrams (Figs. 6-7).

    routegraph render specs/branching_3way.yaml -o arch.svg           # architecture of a spec
    routegraph render runs/ac-4e-9 -o arch.svg                        # ... of a run's network
    routegraph render runs/ac-4e-9 --dataflow accuracy -o flow.svg    # Fig. 6 left, one network
    routegraph render runs/ac-* --dataflow classes -o flow.svg        # Fig. 6 right / 7, rows by k_cpt

Without ``dot`` installed, an architecture diagram falls back to writing its
graphviz source (``.gv``) with the command that renders it; the exit code is then 1.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .options import K_CPT_TYPE, output_file

EXIT_SOURCE_ONLY = 1


def add_arguments(parser):
    parser.add_argument("targets", nargs="+", metavar="SPEC_OR_RUN",
                        help="a spec file (.yaml), or run directories / directories of runs / glob patterns")
    parser.add_argument("-o", "--out", metavar="FILE", type=output_file,
                        help="output file: .svg, .png or .pdf (architecture also .gv/.dot) "
                             "(default: arch-NAME.svg, or dataflow-VARIANT.svg)")
    parser.add_argument("--dataflow", metavar="VARIANT",
                        help="draw a dataflow diagram instead of the architecture: 'accuracy' (correct vs. incorrect "
                             "wedges) or 'classes' (one wedge per class)")
    parser.add_argument("--k-cpt", type=K_CPT_TYPE, metavar="K",
                        help="dataflow: use each run's evaluation at this k_cpt (default: the run's own; every "
                             "k_cpt of a dynamic-k_cpt run)")
    parser.add_argument("--detail", default="auto", metavar="LEVEL",
                        help="architecture: 'nodes' (a box per node), 'layers' (a box per template instance) or "
                             "'auto' (layers above 30 nodes; default)")
    parser.add_argument("--set", action="append", metavar="PARAM=VALUE", help="spec parameter override, e.g. width=2")
    parser.add_argument("--k-cpt-input", action="store_true", help="architecture of a spec: routers read k_cpt")
    parser.add_argument("--title", help="dataflow: a title above the diagram")


def _is_spec(target: str) -> bool:
    return Path(target).suffix.lower() in (".yaml", ".yml") or (Path(target).is_file() and not Path(target).is_dir())


def run(args) -> int:
    from ..errors import ConfigError

    if args.dataflow is not None:
        return _dataflow(args)
    if len(args.targets) != 1:
        raise ConfigError(f"an architecture diagram is drawn for one spec or run, got {len(args.targets)} "
                          f"(did you mean --dataflow accuracy|classes?)")
    return _architecture(args, args.targets[0])


def _architecture(args, target: str) -> int:
    from ..viz.architecture import architecture_dot
    from ..viz.render import SOURCE_FORMATS, render_diagram

    if _is_spec(target):
        from ..graph import compile_spec
        from ..spec import load_spec, parse_overrides

        graph = compile_spec(load_spec(target, parse_overrides(args.set or [])), k_cpt_input=args.k_cpt_input)
    else:
        from ..viz.runs import load_run_info

        if args.set:
            from ..errors import ConfigError

            raise ConfigError("--set applies to specs; a run's network is fixed by its compiled.json")
        graph = load_run_info(target).graph
    out = args.out or f"arch-{graph.name}.svg"
    result = render_diagram(architecture_dot(graph, detail=args.detail), out)
    if result.rendered or Path(out).suffix.lower() in SOURCE_FORMATS:
        print(result.message)
        return 0
    print(result.message, file=sys.stderr)
    return EXIT_SOURCE_ONLY


def _dataflow(args) -> int:
    from ..viz.dataflow import render_dataflow
    from ..viz.geometry import check_variant
    from ..viz.runs import find_runs

    variant = check_variant(args.dataflow)
    for target in args.targets:
        if Path(target).suffix.lower() in (".yaml", ".yml"):
            from ..errors import ConfigError

            raise ConfigError(f"{target}: --dataflow draws trained runs, not specs (pass run directories)")
    runs = find_runs(args.targets)
    out = args.out or f"dataflow-{variant}.svg"
    path = render_dataflow(runs, out, variant, k_cpt=args.k_cpt, title=args.title)
    print(f"wrote {path} ({len(runs)} run{'s' if len(runs) != 1 else ''})")
    return 0
