"""``routegraph schema``: print (or write) the JSON Schema of spec files.

Point an editor at it with a first line in the spec file::

    # yaml-language-server: $schema=../docs/routegraph.schema.json
"""
from __future__ import annotations

import argparse
import sys

from .options import output_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", type=output_file,
                        help="write the schema to FILE (e.g. docs/routegraph.schema.json) instead of stdout")


def run(args: argparse.Namespace) -> int:
    from routegraph.spec.jsonschema import dumps_schema

    text = dumps_schema()
    if args.output:
        from routegraph.io import atomic_write_text

        atomic_write_text(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
