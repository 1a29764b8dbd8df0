#!/bin/bash
# The runs of towers-adapter/ as run (paths made parameters), from the repository root, one
# thread per process (two processes at a time on this 2-core machine):
#   G=DIR_WITH_W0_W1_W2 L2=LOO_CFEVER_W L3=LOO_HOTPOTQA_W OUT=OUT bash run.sh
# G/W{0,1,2}: the work folders of towers-trex-weight/ (cells group-trex2-f4-round1-sS and
# group-trex2-f4-sS), L2, L3: those of query-towers/'s zero-shot cells; OUT/WT0, OUT/WT1: work
# folders seeded with a copy of G/W0/shared (the int8 base index, BM25) for the task-specific
# seeds 0 and 1. stage.sh is passage-adapter/'s: it retrains a plain stage's recorded config with
# the adapter on, maps round 1's index and evaluates on dev.
set -eu
export OMP_NUM_THREADS=1
U=${UNIRET:-uniret}
D=src/uniret/data/kiltmini
S=experiments/results/universal-transfer/passage-adapter/stage.sh
# 1. one model: towers by kind, trex weighted 2 in round 1, the stage with the adapter
for s in 0 1 2; do
  C=$G/W$s/cells
  bash $S $C/group-trex2-f4-s$s $C/group-trex2-f4-round1-s$s $OUT/mt-adapter-s$s 1024 1e-3
done
# 2. five models per seed: task-specific round 1s and plain stages (kept), then each stage with
#    the same adapter over its own round 1's index, the five evaluated together
for s in 0 1; do
  X=$([ $s = 0 ] && echo "" || echo "-s$s")
  $U quickstart --recipe experiments/universal-transfer.toml --backend openvino --int8 \
    --work $OUT/WT$s --keep-models --only $(for t in cfever grec hotpotqa trex wikiqa; do echo single-$t-f4$X; done)
  mkdir -p $OUT/ts-adapter-s$s/pred
  for t in cfever grec hotpotqa trex wikiqa; do
    C=$OUT/WT$s/cells
    bash $S $C/single-$t-f4$X $C/single-$t-f4-round1$X $OUT/ts-adapter-s$s/$t 1024 1e-3 $t
    cp $OUT/ts-adapter-s$s/$t/pred/* $OUT/ts-adapter-s$s/pred/
  done
  $U evaluate --gold $D --pred $OUT/ts-adapter-s$s/pred --json $OUT/ts-adapter-dev-s$s.json
done
# 3. zero-shot: the held-out task's queries through the "*" tower over the adapted index
bash $S $L2/cells/loo-cfever-group-f4 $L2/cells/loo-cfever-group-f4-round1 $OUT/loo-cfever-ad-s0 1024 1e-3 cfever
bash $S $L2/cells/loo-cfever-group-f4-s1 $L2/cells/loo-cfever-group-f4-round1-s1 $OUT/loo-cfever-ad-s1 1024 1e-3 cfever
bash $S $L3/cells/loo-hotpotqa-group-f4 $L3/cells/loo-hotpotqa-group-f4-round1 $OUT/loo-hotpotqa-ad-s0 1024 1e-3 hotpotqa
# 4. the one model fused with BM25 (weights 0.5 / 1, as the recipe)
for s in 0 1 2; do
  $U retrieve --index $G/W0/shared/index-bm25 --index $OUT/mt-adapter-s$s/index \
    --model $OUT/mt-adapter-s$s/model --weights 0.5,1 --backend openvino --int8 \
    --input $D/*-dev-kilt.jsonl.gz --out $OUT/bm25+mt-adapter-s$s/pred
  $U evaluate --gold $D --pred $OUT/bm25+mt-adapter-s$s/pred --json $OUT/bm25+mt-adapter-dev-s$s.json
done
