"""``routegraph serve DIR [--port N]``: an exported folder (``routegraph export``) as an HTTP endpoint.

``POST /predict`` batches concurrent requests (bounded queue, maximum wait) and runs them path-only;
``GET /healthz``, ``GET /info``. SIGTERM or Ctrl-C stops listening, answers what is queued, and exits 0.
Loopback only unless ``--host`` says otherwise. docs/serving.md.
"""
from __future__ import annotations

from dataclasses import fields

from ..checks import NON_NEGATIVE, POSITIVE_INT, Bound
from .options import add_threads_flag, number


def add_arguments(parser):
    from ..serve.app import Limits

    parser.add_argument("folder", metavar="DIR", help="folder written by 'routegraph export'")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=number(Bound(int, 0, hi=65535, hi_inclusive=True)), default=8000,
                        help="TCP port (default: 8000; 0: any free port, printed)")
    for f in fields(Limits):
        bound = NON_NEGATIVE if f.type in (float, "float") else POSITIVE_INT  # a wait of 0: no waiting
        parser.add_argument("--" + f.name.replace("_", "-"), type=number(bound), default=f.default,
                            help=f"{f.metadata['help']} (default: {f.default})")
    add_threads_flag(parser, "ONNX Runtime intra-op threads per session (default: its choice)")


def run(args) -> int:
    from .. import deploy
    from ..serve import Limits, run as serve

    net = deploy.load(args.folder, threads=args.threads)
    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    shown = f"{net.run_id or net.folder.name}: {len(net.classifiers)} exits, input {list(net.input_shape)}"

    def say(line: str) -> None:  # aiohttp's "Running on http://..." line, with what is served
        if line.startswith("======== Running on"):
            print(f"serving {shown} on {line.split('Running on ', 1)[1].split(' ', 1)[0]} (POST /predict)", flush=True)

    serve(net, host=args.host, port=args.port, limits=limits, print_=say)
    print("stopped", flush=True)
    return 0
