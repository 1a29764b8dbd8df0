"""BM25 retriever over a saved index folder (see :mod:`uniret.index.bm25`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from uniret.corpus.store import PassageStore
from uniret.index.bm25 import BM25Index, load_bm25_index
from uniret.tasks.registry import QueryFormat, format_queries
from uniret.types import Hit


class BM25Retriever:
    """Ranks passages with BM25; queries are formatted with a space as separator."""

    def __init__(self, index: BM25Index, store: PassageStore) -> None:
        self.index = index
        self.store = store

    @classmethod
    def load(cls, index_dir: str | Path, passages: str | Path | None = None) -> BM25Retriever:
        """Open a saved BM25 index and the passages it covers."""
        return cls(*load_bm25_index(index_dir, passages))

    def search(self, queries: Sequence[str], k: int, task: str | None = None) -> list[list[Hit]]:
        """Top-``k`` passages per query, best first (passages scoring 0 are left out)."""
        docs, scores = self.index.search(format_queries(queries, task, QueryFormat(sep=" ")), k)
        return [
            [Hit(d, s) for d, s in zip(row_d, row_s, strict=True) if d >= 0]
            for row_d, row_s in zip(docs.tolist(), scores.tolist(), strict=True)
        ]
