"""BM25 scores checked against a direct implementation of the Lucene formula."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from uniret.corpus.store import PassageStore
from uniret.index.bm25 import BM25Config, BM25Index, build_bm25_index
from uniret.retrieval.sparse import BM25Retriever


def reference_scores(docs: list[list[str]], query: list[str], k1: float, b: float) -> np.ndarray:
    """Lucene BM25 written out term by term."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    df = Counter(t for d in docs for t in set(d))
    scores = np.zeros(n)
    for i, doc in enumerate(docs):
        tf = Counter(doc)
        for term in set(query):
            if tf[term] == 0:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            scores[i] += idf * tf[term] / (tf[term] + k1 * (1 - b + b * len(doc) / avgdl))
    return scores


def test_scores_match_reference(store: PassageStore) -> None:
    config = BM25Config(k1=0.9, b=0.4)
    index = BM25Index.build(store, config)
    vocab = {i: w for w, i in index.tokenizer.get_vocab_dict().items()}
    texts = store.texts(with_title=" ")
    docs = [
        [vocab[i] for i in ids]
        for ids in index.tokenizer.tokenize(
            texts, update_vocab=False, return_as="ids", show_progress=False
        )
    ]
    for query in ("where was Marie Curie born", "river in Poland", "polar bears sea ice"):
        q = [vocab[i] for i in index.tokenize_queries([query])[0]]
        expected = reference_scores(docs, q, 0.9, 0.4)
        ids, scores = index.search([query], k=len(store))
        got = np.zeros(len(store))
        got[ids[0][ids[0] >= 0]] = scores[0][ids[0] >= 0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_saved_index_reloads_and_ranks_the_same(store: PassageStore, tmp_path: Path) -> None:
    out = build_bm25_index(store, tmp_path / "idx")
    retriever = BM25Retriever.load(out)  # finds the passages through its meta.json
    fresh = BM25Retriever(BM25Index.build(store, BM25Config()), store)
    queries = ["Marie Curie birth place", "Vistula river Warsaw"]
    assert retriever.search(queries, 5) == fresh.search(queries, 5)
    top = retriever.search(["Vistula river"], 1)[0][0]
    assert store.get(top.passage_id).wikipedia_id == "14"


def test_unknown_words_give_no_hits(store: PassageStore) -> None:
    retriever = BM25Retriever(BM25Index.build(store, BM25Config()), store)
    assert retriever.search(["zzzqqq"], 5) == [[]]


def test_index_refuses_a_different_corpus(
    store: PassageStore, tmp_path: Path, kilt_dir: Path
) -> None:
    from uniret.corpus.chunking import ChunkConfig
    from uniret.corpus.store import build_passage_store
    from uniret.errors import ArtifactError

    out = build_bm25_index(store, tmp_path / "idx")
    build_passage_store(kilt_dir / "knowledge.jsonl", tmp_path / "other", ChunkConfig(words=5))
    with pytest.raises(ArtifactError, match="corpus hash"):
        BM25Retriever.load(out, tmp_path / "other")


def test_small_searches_skip_the_thread_pool_and_rank_the_same(
    store: PassageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uniret.index.bm25 as bm25_module

    index = BM25Index.build(store, BM25Config())
    queries = ["marie curie", "warsaw river", "polar bears", "vistula"] * 20  # 80 queries
    asked: list[int] = []
    real = index.engine.retrieve

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(kwargs["n_threads"])
        return real(*args, **kwargs)

    monkeypatch.setattr(index.engine, "retrieve", spy)
    docs, scores = index.search(queries, 3)  # >= THREADS_FROM: the configured threads
    one = [index.search([q], 3) for q in queries[:4]]  # one query: in the calling thread
    assert asked == [index.config.threads] + [0] * 4 and bm25_module.THREADS_FROM <= 80
    for i, (d, s) in enumerate(one):
        np.testing.assert_array_equal(d[0], docs[i])
        np.testing.assert_allclose(s[0], scores[i], rtol=1e-6)
