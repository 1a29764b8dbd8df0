#!/usr/bin/env bash
# Set up and run the default test suite (offline; slow checks are `-m slow`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all,dev
# the search page is tested in headless Chromium; without it that test skips
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    chromium chromium-driver; } >/dev/null 2>&1; then
    echo "installed chromium and chromium-driver"
  else
    echo "could not install chromium; the browser test will be skipped"
  fi
fi
.venv/bin/ruff check src tests benchmarks
exec .venv/bin/python -m pytest -q "$@"
