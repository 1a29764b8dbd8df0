#!/usr/bin/env bash
# Set up and run the default test suite (offline; slow checks are `-m slow`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all,dev
.venv/bin/ruff check src tests benchmarks
exec .venv/bin/python -m pytest -q "$@"
