#!/usr/bin/env bash
# Create .venv and install routegraph with its dev dependencies (idempotent).
# torch==2.13.0 goes first: it is the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
if ! command -v dot >/dev/null 2>&1; then
  echo "note: graphviz's 'dot' is not installed; diagrams will be written as .gv source (apt-get install graphviz)" >&2
fi
