#!/usr/bin/env bash
# Set up and run the end-to-end job on the kiltmini benchmark shipped in the package
# (or DATA=/other/folder in the same KILT format).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
exec .venv/bin/uniret quickstart ${DATA:+--data "$DATA"} --work "${WORK:-runs/quickstart}" "$@"
