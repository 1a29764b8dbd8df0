#!/bin/bash
# BM25 + the task-specific models of seed 2, each task over its own round-1 index, BM25 at
# weight 0.5 (the recipe's fusion). WA / WB: the seed-2 work folders (README, "Seed 2"); the
# stages' weights were dropped by the runner, so each is trained again from its recorded config
# (it gives the cells' per-query results exactly: compare with single-*-f4-s2 in results.json).
set -euo pipefail
WA=${WA:?seed-2 work folder of cfever, hotpotqa, wikiqa} WB=${WB:?seed-2 work folder of grec, trex}
OUT=${OUT:-ts-fused}
D=src/uniret/data/kiltmini
for t in cfever hotpotqa wikiqa grec trex; do
  W=$WA; [ -d "$W/cells/single-$t-f4-s2" ] || W=$WB
  [ -f "$OUT/ts-$t/uniret_biencoder.json" ] || uniret train \
    --config "$W/cells/single-$t-f4-s2/model/train_config.toml" --set data_dir=$D --out "$OUT/ts-$t"
  uniret retrieve --index "$W/cells/single-$t-f4-round1-s2/index" --model "$OUT/ts-$t" \
    --backend openvino --int8 --input $D/$t-dev-kilt.jsonl.gz --out "$OUT/pred-dense"
  uniret retrieve --index "$W/shared/index-bm25" --index "$W/cells/single-$t-f4-round1-s2/index" \
    --model "$OUT/ts-$t" --weights 0.5,1 --backend openvino --int8 \
    --input $D/$t-dev-kilt.jsonl.gz --out "$OUT/pred"
done
uniret evaluate --gold $D --pred "$OUT/pred-dense" --json "$OUT/single-s2.json"
uniret evaluate --gold $D --pred "$OUT/pred" --json "$OUT/bm25+single-s2.json"
