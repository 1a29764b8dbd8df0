#!/usr/bin/env bash
# Set up and run the end-to-end job on the kiltmini benchmark (or DATA=/other/folder).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
exec .venv/bin/uniret quickstart --data "${DATA:-../shared/data/kiltmini}" --work "${WORK:-runs/quickstart}" "$@"
