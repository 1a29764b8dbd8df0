"""Dense retrieval: FAISS index directories and the retriever that encodes queries."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError
from uniret.index.encode import load_embeddings
from uniret.index.faiss_index import IDS_FILE, IndexConfig, build_faiss, load_faiss, save_faiss
from uniret.io import write_json
from uniret.models.biencoder import BiEncoder
from uniret.outputs import Artifact, check_output, writing
from uniret.retrieval.base import (
    INDEX_META,
    damaged_index,
    index_meta,
    open_passages,
    read_index_meta,
)
from uniret.tasks.registry import QueryFormat
from uniret.types import Hit

logger = logging.getLogger(__name__)

KIND = "dense"


def build_dense_index(
    embeddings_dir: str | Path,
    out_dir: str | Path,
    config: IndexConfig = IndexConfig(),
    *,
    passages: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Merge the shards of ``embeddings_dir`` and write a FAISS index directory (atomically;
    an existing dense index there is replaced only with ``overwrite``)."""
    check_output(out_dir, Artifact.DENSE_INDEX, overwrite=overwrite)
    embeddings = load_embeddings(embeddings_dir)
    bad = ~np.isfinite(embeddings.vectors).all(axis=1)
    if bad.any():
        raise ArtifactError(
            f"embeddings in {embeddings_dir}: {int(bad.sum())} vectors hold NaN or infinity "
            f"(first: passage {int(np.flatnonzero(bad)[0])}); re-encode them"
        )
    store = PassageStore(passages or embeddings.meta["passages"])
    if store.corpus_hash != embeddings.meta["corpus_hash"]:
        raise ArtifactError(
            f"embeddings in {embeddings_dir} come from corpus "
            f"{embeddings.meta['corpus_hash']}, but {store.directory} is {store.corpus_hash}"
        )
    index = build_faiss(embeddings.vectors, config)
    with writing(out_dir, Artifact.DENSE_INDEX, overwrite=overwrite) as tmp:
        tmp.mkdir(parents=True)
        save_faiss(index, tmp)
        np.save(tmp / IDS_FILE, np.arange(len(embeddings.vectors), dtype=np.int64))
        encoder = {k: v for k, v in embeddings.meta.items() if k not in ("passages", "corpus_size")}
        meta = index_meta(KIND, store, out_dir, encoder=encoder, faiss=config.to_dict())
        meta["versions"]["faiss"] = faiss.__version__
        write_json(tmp / INDEX_META, meta)
    logger.info(
        "%s index of %d vectors written to %s", config.type, len(embeddings.vectors), out_dir
    )
    return Path(out_dir)


class DenseRetriever:
    """Encodes queries with a bi-encoder's query side and searches a FAISS index."""

    def __init__(
        self,
        index: Any,
        model: BiEncoder,
        store: PassageStore,
        *,
        batch_size: int = 128,
    ) -> None:
        self.index = index
        self.model = model
        self.store = store
        self.batch_size = batch_size
        self.query_format = QueryFormat(
            sep=model.query_sep(model.config.tasks[0] if model.config.tasks else None)
        )

    @classmethod
    def load(
        cls,
        index_dir: str | Path,
        *,
        model: str | None = None,
        passages: str | Path | None = None,
        device: str | None = None,
    ) -> DenseRetriever:
        """Open a dense index; queries are encoded by the model its meta names, or ``model``."""
        meta = read_index_meta(index_dir, KIND)
        store = open_passages(index_dir, meta, passages)
        from uniret.models.biencoder import BiEncoderConfig

        with damaged_index(index_dir, "uniret index dense"):
            encoder = meta["encoder"]
            name = model or encoder["model"]
            config = None if model else BiEncoderConfig.from_dict(encoder["biencoder"])
            faiss_config = IndexConfig.from_dict(meta["faiss"])
        biencoder = BiEncoder.from_pretrained(
            name,
            config,
            pooling=None if model else encoder["pooling"],
            normalize=None if model else encoder["normalize"],
        )
        if biencoder.passage_encoder.dim != encoder["dim"]:
            raise ArtifactError(
                f"model {name} makes {biencoder.passage_encoder.dim}-d vectors, "
                f"index {index_dir} holds {encoder['dim']}-d ones"
            )
        if device:
            biencoder.to(device)
        with damaged_index(index_dir, "uniret index dense"):
            index = load_faiss(index_dir, faiss_config)
            if index.ntotal != len(store) or index.d != encoder["dim"]:
                raise ArtifactError(
                    f"it holds {index.ntotal} {index.d}-d vectors, expected {len(store)} "
                    f"{encoder['dim']}-d ones"
                )
        return cls(index, biencoder, store)

    def search(self, queries: Sequence[str], k: int, task: str | None = None) -> list[list[Hit]]:
        """Top-``k`` passages per query by inner product, best first."""
        if not queries:
            return []
        vectors = self.model.embed_queries(queries, task=task, batch_size=self.batch_size)
        scores, ids = self.index.search(vectors, min(k, self.index.ntotal))
        return [
            [Hit(i, s) for i, s in zip(row_i, row_s, strict=True) if i >= 0]
            for row_i, row_s in zip(ids.tolist(), scores.tolist(), strict=True)
        ]
