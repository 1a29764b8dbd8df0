#!/bin/bash
# CPU frozen recipe, seed 0: round 1 distilled from the fusion of BM25 with the universal model
# (kd8-f4-s0 of full-distill/, its stage trained again), then the usual stage. Resumable.
# Run from the repository root in an empty folder OUT: W=.../WK0 bash run.sh, with W the work
# folder of full-distill/'s seed 0 (its shared/ and cells kd8-f4-round1-s0, kd8-f4-s0).
set -eux
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
U=uniret
W=${W:?the work folder of full-distill/, seed 0}; C=$W/cells; D=src/uniret/data/kiltmini
OUT=${OUT:-self-fusion-distill}; mkdir -p $OUT && ln -sfn "$PWD/src" $OUT/src && cd $OUT
INT8="--backend openvino --int8"
# 1. the teacher's dense model: kd8-f4-s0's stage, trained again from its record's config
[ -f teacher-model/uniret_biencoder.json ] && ls teacher-model/*.safetensors >/dev/null 2>&1 || \
  $U train --config $C/kd8-f4-s0/model/train_config.toml --set data_dir=$D --out teacher-model --overwrite
[ -f teacher-dev.json ] || { $U retrieve --index $C/kd8-f4-round1-s0/index --model teacher-model $INT8 --input $D/*-dev-kilt.jsonl.gz --out teacher-dense-dev --overwrite
  $U evaluate --gold $D --pred teacher-dense-dev --json teacher-dense-dev.json --overwrite
  $U retrieve --index $W/shared/index-bm25 --index $C/kd8-f4-round1-s0/index --model teacher-model --weights 0.5,1.0 $INT8 --input $D/*-dev-kilt.jsonl.gz --out teacher-fusion-dev --overwrite
  $U evaluate --gold $D --pred teacher-fusion-dev --json teacher-dev.json --overwrite; }
# 2. the fusion ranks every train query, top 8
[ -f teacher.done ] || { $U retrieve --index $W/shared/index-bm25 --index $C/kd8-f4-round1-s0/index --model teacher-model --weights 0.5,1.0 $INT8 --k 8 --input $D/*-train-kilt.jsonl.gz --out teacher --overwrite && touch teacher.done; }
# 3. round 1 distilled from it (kd8-f4-round1-s0's config, the teacher and τ 0.1 changed)
[ -f round1.done ] || { $U train --config $C/kd8-f4-round1-s0/model/train_config.toml --set data_dir=$D \
  --set distill=$PWD/teacher --set distill_temperature=0.1 --out round1 && touch round1.done; }
# 4. round 1's passage tower re-encodes the corpus (int8, as the cells)
[ -f index/meta.json ] || { $U encode --model round1 --passages $W/shared/passages $INT8 --out emb
  $U index dense --embeddings emb --out index; }
# 5. the usual stage over that index
[ -f stage.done ] || { $U train --config $C/kd8-f4-s0/model/train_config.toml --set data_dir=$D \
  --set index=$PWD/index --set init=$PWD/round1 --out stage --overwrite && touch stage.done; }
# 6. dev: round 1, the stage, BM25 + the stage
for m in round1 stage; do
  [ -f $m-dev.json ] || { $U retrieve --index index --model $m $INT8 --input $D/*-dev-kilt.jsonl.gz --out pred-$m --overwrite
    $U evaluate --gold $D --pred pred-$m --json $m-dev.json --overwrite; }
done
[ -f bm25+stage-dev.json ] || { $U retrieve --index $W/shared/index-bm25 --index index --model stage --weights 0.5,1.0 $INT8 --input $D/*-dev-kilt.jsonl.gz --out pred-bm25+stage --overwrite
  $U evaluate --gold $D --pred pred-bm25+stage --json bm25+stage-dev.json --overwrite; }
echo ALL DONE
