#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install uniret with the given extras, e.g. `scripts/setup.sh all,dev`.
# torch is installed first, pinned (TORCH_SPEC, default torch==2.13.0): an unpinned torch would pull
# a multi-GB CUDA build where a CPU build is at hand.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-all}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
