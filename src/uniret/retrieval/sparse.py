"""BM25 retriever over a saved index directory."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError
from uniret.io import write_json
from uniret.outputs import Artifact, check_output, writing
from uniret.retrieval.base import (
    INDEX_META,
    damaged_index,
    index_meta,
    open_passages,
    read_index_meta,
)
from uniret.sparse.bm25 import BM25Config, BM25Index
from uniret.tasks.registry import QueryFormat
from uniret.types import Hit

logger = logging.getLogger(__name__)

KIND = "bm25"


def build_bm25_index(
    store: PassageStore,
    out_dir: str | Path,
    config: BM25Config = BM25Config(),
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Build a BM25 index of ``store`` at ``out_dir`` (written atomically; an existing BM25
    index there is replaced only with ``overwrite``)."""
    check_output(out_dir, Artifact.BM25_INDEX, overwrite=overwrite)
    index = BM25Index.build(store, config, progress=progress)
    with writing(out_dir, Artifact.BM25_INDEX, overwrite=overwrite) as tmp:
        tmp.mkdir(parents=True)
        index.save(tmp)
        write_json(tmp / INDEX_META, index_meta(KIND, store, out_dir, bm25=index.config_dict()))
    logger.info("BM25 index of %d passages written to %s", len(store), out_dir)
    return Path(out_dir)


class BM25Retriever:
    """Ranks passages with BM25; slot-filling ``[SEP]`` becomes a space."""

    def __init__(self, index: BM25Index, store: PassageStore) -> None:
        self.index = index
        self.store = store
        self.query_format = QueryFormat(sep=" ")

    @classmethod
    def load(cls, index_dir: str | Path, passages: str | Path | None = None) -> BM25Retriever:
        """Open a saved BM25 index and the passages it covers."""
        meta = read_index_meta(index_dir, KIND)
        store = open_passages(index_dir, meta, passages)
        with damaged_index(index_dir, "uniret index bm25"):
            index = BM25Index.load(index_dir, BM25Config(**meta["bm25"]))
            if index.engine.scores["num_docs"] != len(store):
                raise ArtifactError(
                    f"it covers {index.engine.scores['num_docs']} passages, the store {len(store)}"
                )
        return cls(index, store)

    def search(self, queries: Sequence[str], k: int, task: str | None = None) -> list[list[Hit]]:
        """Top-``k`` passages per query, best first (passages scoring 0 are left out)."""
        docs, scores = self.index.search(queries, k)
        return [
            [Hit(d, s) for d, s in zip(row_d, row_s, strict=True) if d >= 0]
            for row_d, row_s in zip(docs.tolist(), scores.tolist(), strict=True)
        ]
