#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install uniret with the given extras, e.g. `scripts/setup.sh dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
spec="."
if [ -n "$EXTRAS" ]; then spec=".[${EXTRAS}]"; fi
.venv/bin/python -m pip install -q -e "$spec"
