#!/bin/bash
# One query-side stage with a passage adapter over an existing round-1 cell, then its mapped
# index, dev retrieval (OpenVINO int8 queries, as the cells it is compared with) and evaluation.
# The script as run, its paths made parameters (run from the repository root, one thread):
#   stage.sh STAGE_CELL_DIR ROUND1_CELL_DIR OUT HIDDEN ADAPTER_LR [TASK]
# STAGE_CELL_DIR/model/train_config.toml is the plain stage's resolved config (same seed, same
# round 1); ROUND1_CELL_DIR/index is the index it trained over. EXTRA adds `--set` overrides.
set -eu
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
U=${UNIRET:-uniret}
D=${DATA:-src/uniret/data/kiltmini}
STAGE=$1 ROUND1=$2 OUT=$3 H=$4 LR=$5 TASK=${6:-}
mkdir -p $OUT
[ -f $OUT/commit ] || { git rev-parse HEAD > $OUT/commit && git status --porcelain >> $OUT/commit; }
if [ -n "$TASK" ]; then INPUT=$D/$TASK-dev-kilt.jsonl.gz; else INPUT=$D/*-dev-kilt.jsonl.gz; fi
T0=$(date +%s)
[ -f $OUT/model/uniret_biencoder.json ] || $U train --config $STAGE/model/train_config.toml \
  --set data_dir=$D --set passage_adapter=$H --set adapter_lr=$LR ${EXTRA:-} --out $OUT/model
T1=$(date +%s)
[ -d $OUT/index ] || $U index map --index $ROUND1/index --model $OUT/model --out $OUT/index
[ -d $OUT/pred ] || $U retrieve --index $OUT/index --model $OUT/model --backend openvino --int8 \
  --input $INPUT --out $OUT/pred
$U evaluate --gold $D --pred $OUT/pred --json $OUT/dev.json
echo "train_s $((T1-T0)) total_s $(( $(date +%s)-T0 ))" > $OUT/time
