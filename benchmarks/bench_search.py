"""FAISS search speed and recall against exact search on real embeddings.

Builds flat (exact), HNSW and IVF-PQ indexes from one ``uniret encode`` folder, encodes the dev
queries of a benchmark folder with the same model, and reports queries/s (one batched search
call, all threads) and recall@100 = |top-100 approx ∩ top-100 exact| / 100, averaged.

    python benchmarks/bench_search.py --embeddings runs/kiltmini/emb-base
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from uniret.defaults import DEFAULT_DATA
from uniret.index.encode import load_embeddings
from uniret.index.faiss_index import IndexConfig, IndexType, build_faiss
from uniret.models.biencoder import BiEncoder, BiEncoderConfig
from uniret.tasks.kilt import find_task_files, read_examples
from uniret.tasks.registry import QueryFormat, format_query, get_task


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embeddings", required=True)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    emb = load_embeddings(args.embeddings)
    model = BiEncoder.from_pretrained(
        emb.meta["model"], BiEncoderConfig.from_dict(emb.meta["biencoder"])
    )
    fmt = QueryFormat(sep=model.query_sep())
    queries = [
        format_query(e.input, get_task(tf.task), fmt)
        for tf in find_task_files(args.data, "dev")
        for e in read_examples(tf.path)
    ]
    q = model.embed_queries(queries)
    print(
        f"{len(emb.vectors):,} passages x {emb.vectors.shape[1]} dims, {len(q)} queries, "
        f"k={args.k}, {faiss.omp_get_max_threads()} threads"
    )
    exact_ids = None
    for kind in IndexType:
        start = time.perf_counter()
        index = build_faiss(emb.vectors, IndexConfig(type=kind))
        build = time.perf_counter() - start
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            _, ids = index.search(q, args.k)
            best = min(best, time.perf_counter() - start)
        if exact_ids is None:
            exact_ids = ids
        recall = np.mean(
            [len(set(a) & set(b)) / args.k for a, b in zip(ids, exact_ids, strict=True)]
        )
        size = faiss.serialize_index(index).nbytes / 2**20
        print(
            f"  {kind:6s} build {build:6.1f}s  {len(q) / best:9.0f} q/s  "
            f"recall@{args.k} {recall:.4f}  size {size:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
