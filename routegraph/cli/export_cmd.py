"""``routegraph export RUN -o DIR [--format onnx|dense]``: a trained run as ONNX graphs and a manifest.

The folder runs with numpy and ONNX Runtime alone (``routegraph.deploy``, ``routegraph predict DIR
--runtime onnx``, ``routegraph serve DIR``); docs/deploy.md.
"""
from __future__ import annotations


from .options import output_folder


def add_arguments(parser):
    from ..export.onnx import FORMATS

    parser.add_argument("run", help="run directory (written by 'routegraph train')")
    parser.add_argument("-o", "--out", required=True, type=output_folder, help="folder to write (an earlier export there is replaced)")
    parser.add_argument("--format", choices=tuple(FORMATS), default="onnx",
                        help="; ".join(f"{name}: {what}" for name, what in FORMATS.items()) + " (default: onnx)")


def run(args) -> int:
    from ..deploy.manifest import read_manifest
    from ..export import export_run

    folder = export_run(args.run, args.out, format=args.format)
    manifest = read_manifest(folder)
    size = sum((folder / name).stat().st_size for name in manifest["files"])
    print(f"exported {manifest.get('run_id') or args.run} to {folder}: {len(manifest['files'])} ONNX graph(s), "
          f"{size / 1e6:.2f} MB, {len(manifest['classifiers'])} exits ({args.format})")
    return 0
