"""BM25 build and retrieval speed on a benchmark folder, against bm25s called directly.

Baseline (same process, same tokenised corpus, same queries, same k and threads): bm25s
``Tokenizer.tokenize`` on the queries + ``BM25.retrieve``. uniret's figure is the full
``BM25Retriever.search`` (query tokenising, retrieval, hit objects) and, separately, the whole
``predict_file`` path that also formats queries and writes KILT predictions with passage text.

    python benchmarks/bench_bm25.py --work runs/bench
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from uniret.corpus.chunking import ChunkConfig
from uniret.corpus.store import PassageStore, build_passage_store
from uniret.defaults import DEFAULT_DATA
from uniret.experiments.shared import find_knowledge
from uniret.index.bm25 import build_bm25_index
from uniret.retrieval.predict import predict_file, queries_for
from uniret.retrieval.sparse import BM25Retriever
from uniret.tasks.kilt import find_task_files, read_examples
from uniret.tasks.registry import get_task


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument(
        "--work", default=None, help="folder for passages and index (default: temp)"
    )
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="uniret-bench-"))

    t_chunk, _ = timed(
        lambda: build_passage_store(find_knowledge(args.data), work / "passages", ChunkConfig()), 1
    )
    store = PassageStore(work / "passages")
    t_index, _ = timed(lambda: build_bm25_index(store, work / "bm25"), 1)
    print(
        f"chunking: {t_chunk:.1f}s for {store.meta['pages']:,} pages "
        f"({store.meta['pages'] / t_chunk:,.0f} pages/s), {len(store):,} passages"
    )
    print(f"BM25 index build: {t_index:.1f}s")

    retriever = BM25Retriever.load(work / "bm25")
    queries: list[str] = []
    for tf in find_task_files(args.data, "dev"):
        queries += queries_for(read_examples(tf.path), get_task(tf.task), retriever)
    engine, tokenizer, threads = (
        retriever.index.engine,
        retriever.index.tokenizer,
        retriever.index.config.threads,
    )

    def direct() -> object:
        ids = tokenizer.tokenize(queries, update_vocab=False, return_as="ids", show_progress=False)
        return engine.retrieve(ids, k=args.k, show_progress=False, n_threads=threads)

    t_direct, _ = timed(direct)
    t_ours, _ = timed(lambda: retriever.search(queries, args.k))
    n = len(queries)
    print(f"{n} dev queries, k={args.k}")
    print(f"  bm25s direct (baseline):   {n / t_direct:8.0f} q/s")
    print(f"  uniret BM25Retriever.search:{n / t_ours:8.0f} q/s  ratio {t_direct / t_ours:.2f}x")

    def full() -> None:
        for tf in find_task_files(args.data, "dev"):
            predict_file(retriever, tf.path, work / "preds" / tf.path.name, args.k)

    t_full, _ = timed(full, 1)
    print(
        f"  uniret retrieve + KILT files:{n / t_full:7.0f} q/s  ratio {t_direct / t_full:.2f}x "
        "(includes writing passage texts)"
    )


if __name__ == "__main__":
    main()
