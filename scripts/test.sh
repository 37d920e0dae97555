#!/usr/bin/env bash
# Set up and run the test suite (slow tests excluded; run them with: .venv/bin/python -m pytest -m slow).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/python -m pytest -q "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
