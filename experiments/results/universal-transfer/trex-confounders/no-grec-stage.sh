#!/bin/bash
# The recipe's query-side stage, on all five tasks, from a round 1 R1 (a cell folder holding
# `model` and `index`, e.g. W/cells/loo-grec-f4-round1: trained without grec), seed SEED; then
# dev retrieval (int8 queries, as the cells) alone and fused with BM25 (W/shared/index-bm25).
# Run from the repository root: no-grec-stage.sh R1 OUT SEED
set -euo pipefail
R1=$1 OUT=$2 SEED=${3:-0}
D=src/uniret/data/kiltmini
[ -f "$OUT/model/uniret_biencoder.json" ] || uniret train --config configs/multitask-kiltmini.toml \
  --set data_dir=$D --set index="$R1/index" --set init="$R1/model" --set scale=30 \
  --set seed="$SEED" --out "$OUT/model"
uniret retrieve --index "$R1/index" --model "$OUT/model" --backend openvino --int8 \
  --input $D/*-dev-kilt.jsonl.gz --out "$OUT/pred"
uniret evaluate --gold $D --pred "$OUT/pred" --json "$OUT/dev.json"
uniret retrieve --index "$R1/../../shared/index-bm25" --index "$R1/index" --model "$OUT/model" \
  --weights 0.5,1 --backend openvino --int8 --input $D/*-dev-kilt.jsonl.gz --out "$OUT/pred-fused"
uniret evaluate --gold $D --pred "$OUT/pred-fused" --json "$OUT/bm25-dev.json"
