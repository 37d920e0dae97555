#!/usr/bin/env bash
# Set up and run the end-to-end demo (offline, a few minutes on 2 cores). Output: demo-out/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/routegraph demo --out demo-out "$@"
