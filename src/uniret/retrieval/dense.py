"""Dense retrieval: encode queries with a bi-encoder's query side, search a FAISS index
(built and opened by :mod:`uniret.index.dense`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from uniret.corpus.store import PassageStore
from uniret.index.dense import DenseIndex
from uniret.models.backends import BackendConfig
from uniret.models.biencoder import BiEncoder
from uniret.types import Hit


class DenseRetriever:
    """Encodes queries with a bi-encoder's query side and searches a FAISS index.

    ``vectors`` looks passage vectors up by id (for :meth:`score`); without it they are
    reconstructed from the FAISS index (exact for flat and HNSW indexes)."""

    def __init__(
        self,
        index: Any,
        model: BiEncoder,
        store: PassageStore,
        *,
        batch_size: int = 128,
        vectors: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.index = index
        self.model = model
        self.store = store
        self.batch_size = batch_size
        self._vectors = vectors

    @classmethod
    def load(
        cls,
        index_dir: str | Path,
        *,
        model: str | None = None,
        passages: str | Path | None = None,
        device: str | None = None,
        backend: BackendConfig | None = None,
    ) -> DenseRetriever:
        """Open a dense index; queries are encoded by the model its meta names, or ``model``,
        on ``backend`` (int8 is calibrated on a sample of the index's passages)."""
        from uniret.index.encode import calibration_texts

        index = DenseIndex.open(index_dir, passages)
        biencoder = index.model(model)
        if device:
            biencoder.to(device)
        if backend is not None:
            biencoder.use_backend(backend, lambda n: calibration_texts(index.store, biencoder, n))
        rows = functools.cache(index.vector_rows)  # opened once, when scoring first asks
        return cls(index.faiss, biencoder, index.store, vectors=lambda ids: rows()(ids))

    def search(self, queries: Sequence[str], k: int, task: str | None = None) -> list[list[Hit]]:
        """Top-``k`` passages per query by inner product, best first."""
        if not queries:
            return []
        return self._search(self._embed(queries, task), k)

    def score(
        self, queries: Sequence[str], passages: Sequence[Sequence[int]], task: str | None = None
    ) -> list[np.ndarray]:
        """Inner products of each query with its given passages (ids), in the order given:
        the scores :meth:`search` ranks by, wherever those passages rank."""
        if not queries:
            return []
        return self._score(self._embed(queries, task), passages)

    def search_scored(
        self,
        queries: Sequence[str],
        k: int,
        passages: Sequence[Sequence[int]],
        task: str | None = None,
    ) -> tuple[list[list[Hit]], list[np.ndarray]]:
        """:meth:`search` and :meth:`score` from one encoding of the queries."""
        if not queries:
            return [], []
        vectors = self._embed(queries, task)
        return self._search(vectors, k), self._score(vectors, passages)

    def _embed(self, queries: Sequence[str], task: str | None) -> np.ndarray:
        return self.model.embed_inputs(queries, task, batch_size=self.batch_size)

    def _search(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        scores, ids = self.index.search(vectors, min(k, self.index.ntotal))
        return [
            [Hit(i, s) for i, s in zip(row_i, row_s, strict=True) if i >= 0]
            for row_i, row_s in zip(ids.tolist(), scores.tolist(), strict=True)
        ]

    def _score(self, vectors: np.ndarray, passages: Sequence[Sequence[int]]) -> list[np.ndarray]:
        lookup = self._vectors or self.index.reconstruct_batch
        flat = np.asarray([i for ids in passages for i in ids], dtype=np.int64)
        rows = lookup(flat).astype(np.float32) if len(flat) else np.zeros((0, vectors.shape[1]))
        ends = np.cumsum([len(ids) for ids in passages])
        return [
            rows[end - len(ids) : end] @ v
            for v, ids, end in zip(vectors, passages, ends, strict=True)
        ]
