"""Dense index folders: the FAISS index of one encoding run, the passage ids and a meta.json
naming the encoder, the FAISS settings and where the embeddings are kept."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError
from uniret.index.encode import ShardedEmbeddings, keep_vectors, open_embeddings
from uniret.index.faiss_index import (
    IDS_FILE,
    IndexConfig,
    IndexType,
    build_faiss_from_shards,
    load_faiss,
    save_faiss,
)
from uniret.index.meta import (
    DENSE,
    INDEX_META,
    EncoderInfo,
    IndexMeta,
    Location,
    damaged_index,
    open_passages,
    read_index_meta,
)
from uniret.io import write_json
from uniret.outputs import Artifact, check_output, writing

if TYPE_CHECKING:
    from uniret.models.biencoder import BiEncoder

logger = logging.getLogger(__name__)
MAP_CHUNK = 65_536  # rows read and mapped at a time by map_dense_index
EMBEDDINGS_DIR = "embeddings"  # vectors an index keeps inside itself (mapped ones)
EXACT_TYPES = (IndexType.FLAT, IndexType.HNSW)  # FAISS types that give their vectors back


def build_dense_index(
    embeddings_dir: str | Path,
    out_dir: str | Path,
    config: IndexConfig = IndexConfig(),
    *,
    passages: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Merge the shards of ``embeddings_dir`` and write a FAISS index directory (atomically;
    an existing dense index there is replaced only with ``overwrite``). ``auto`` is resolved by
    the number of vectors and recorded resolved."""
    check_output(out_dir, Artifact.DENSE_INDEX, overwrite=overwrite)
    embeddings = open_embeddings(embeddings_dir)  # memory-mapped shards, added one by one
    store = PassageStore(passages or embeddings.meta["passages"])
    if store.corpus_hash != embeddings.meta["corpus_hash"]:
        raise ArtifactError(
            f"embeddings in {embeddings_dir} come from corpus "
            f"{embeddings.meta['corpus_hash']}, but {store.directory} is {store.corpus_hash}"
        )
    try:
        index, ids = build_faiss_from_shards(embeddings.shards, config)
    except ValueError as exc:
        raise ArtifactError(f"embeddings in {embeddings_dir}: {exc}; re-encode them") from None
    encoder = EncoderInfo.from_dict(embeddings.meta)
    encoder = encoder.located(embeddings.meta.get("model_path") or None, out_dir)
    where = Location.of(Path(embeddings_dir), out_dir)
    _write_dense(out_dir, index, ids, store, encoder, config, overwrite, embeddings=where)
    logger.info("%s index of %d vectors written to %s", config.type, len(ids), out_dir)
    return Path(out_dir)


@dataclass
class DenseIndex:
    """An opened dense index folder: the FAISS index, its typed meta and its passage store."""

    directory: Path
    faiss: faiss.Index
    meta: IndexMeta
    store: PassageStore

    @property
    def encoder(self) -> EncoderInfo:
        """The model that made the vectors (every dense meta has one: see read_index_meta)."""
        if self.meta.encoder is None:
            raise ArtifactError(f"{self.directory}: no encoder recorded")
        return self.meta.encoder

    def vectors(self) -> np.ndarray:
        """Every passage vector, in passage-id order, exactly as encoded, in memory: read from
        the embeddings the index was built from, or, for exact (flat, HNSW) indexes whose
        embeddings are gone, reconstructed from the index itself."""
        embeddings = self._embeddings()
        if embeddings is not None:
            return embeddings.merge().vectors
        return self.faiss.reconstruct_n(0, self.faiss.ntotal)  # row i is passage i

    def vector_rows(self) -> Callable[[np.ndarray], np.ndarray]:
        """A lookup ``ids -> vectors`` (float32) that loads nothing whole: rows of the
        memory-mapped embeddings, or reconstructed from an exact index."""
        embeddings = self._embeddings()
        if embeddings is not None:
            return embeddings.take
        return lambda ids: self.faiss.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def _embeddings(self) -> ShardedEmbeddings | None:
        """The embeddings this index was built from, if still there (same corpus); ``None``
        for an exact index (its vectors can be reconstructed); an error otherwise."""
        where = self.meta.embeddings
        for candidate in where.candidates(self.directory) if where else []:
            if candidate.is_dir():
                embeddings = open_embeddings(candidate)
                if embeddings.meta["corpus_hash"] == self.meta.passages.corpus_hash:
                    return embeddings
        kind = IndexConfig.from_dict(self.meta.faiss or {}).type
        if kind not in EXACT_TYPES:
            raise ArtifactError(
                f"{self.directory}: the passage vectors are needed, but its embeddings folder "
                f"is gone and a {kind} index holds only compressed codes; re-encode the corpus"
            )
        return None

    def model(self, override: str | None = None) -> BiEncoder:
        """The bi-encoder that made the vectors (pooling, normalisation and passage template
        as recorded), or ``override`` (e.g. a query-side model trained over this index)."""
        from uniret.models.biencoder import BiEncoder, BiEncoderConfig

        encoder = self.encoder
        if override:
            model = BiEncoder.from_pretrained(override)
        else:
            model = BiEncoder.from_pretrained(
                encoder.model_source(self.directory),
                BiEncoderConfig.from_dict(encoder.biencoder),
                pooling=encoder.pooling,
                normalize=encoder.normalize,
            )
        if model.passage_encoder.dim != encoder.dim:
            raise ArtifactError(
                f"model {override or encoder.model} makes {model.passage_encoder.dim}-d vectors, "
                f"index {self.directory} holds {encoder.dim}-d ones"
            )
        return model

    @classmethod
    def open(cls, index_dir: str | Path, passages: str | Path | None = None) -> DenseIndex:
        """Open a dense index folder, checked against its passage store."""
        meta = read_index_meta(index_dir, DENSE)
        store = open_passages(index_dir, meta, passages)
        with damaged_index(index_dir, "uniret index dense"):
            encoder = meta.encoder
            index = load_faiss(index_dir, IndexConfig.from_dict(meta.faiss or {}))
            if encoder is None or index.ntotal != len(store) or index.d != encoder.dim:
                raise ArtifactError(
                    f"it holds {index.ntotal} {index.d}-d vectors, expected {len(store)} "
                    f"{encoder.dim if encoder else '?'}-d ones"
                )
        return cls(Path(index_dir), index, meta, store)


def map_dense_index(
    index_dir: str | Path,
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    chunk: int = MAP_CHUNK,
) -> Path:
    """The index a model with a passage adapter searches: the vectors of ``index_dir`` (the
    index its query-side training ran over) mapped by the model's adapter, nothing re-encoded,
    with the same FAISS settings; written atomically (an existing dense index at ``out_dir``
    is replaced only with ``overwrite``). Vectors are read and mapped ``chunk`` rows at a time
    into a memory-mapped scratch file beside ``out_dir`` (removed after), so memory stays
    bounded by the chunk and the FAISS index, not the corpus."""
    from uniret.models.biencoder import BiEncoder

    check_output(out_dir, Artifact.DENSE_INDEX, overwrite=overwrite)
    source = DenseIndex.open(index_dir)
    model = BiEncoder.from_pretrained(str(model_dir))
    if model.passage_adapter is None:
        raise ArtifactError(
            f"model {model_dir} has no passage adapter: it searches {index_dir} as it is"
        )
    if model.passage_encoder.dim != source.encoder.dim:
        raise ArtifactError(
            f"model {model_dir} makes {model.passage_encoder.dim}-d vectors, index {index_dir} "
            f"holds {source.encoder.dim}-d ones"
        )
    config = IndexConfig.from_dict(source.meta.faiss or {})
    encoder = dataclasses.replace(
        source.encoder, model=str(model_dir), biencoder=model.config.to_dict(), model_location=None
    ).located(model_dir, out_dir)
    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".map-", dir=Path(out_dir).parent) as scratch:
        rows, n = source.vector_rows(), len(source.store)
        mapped = Path(scratch) / "mapped.npy"
        vectors = np.lib.format.open_memmap(
            mapped, mode="w+", dtype=np.float32, shape=(n, source.encoder.dim)
        )
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            vectors[start:stop] = model.passage_adapter.map(rows(np.arange(start, stop)))
        try:
            index, ids = build_faiss_from_shards([(np.arange(n), vectors)], config)
        except ValueError as exc:
            raise ArtifactError(f"the mapped vectors of {index_dir}: {exc}") from None
        vectors.flush()
        del vectors
        # an index of compressed codes cannot give its vectors back: keep them inside it
        kept = None if config.type in EXACT_TYPES else mapped
        _write_dense(out_dir, index, ids, source.store, encoder, config, overwrite, vectors=kept)
    logger.info(
        "%d vectors of %s mapped by %s's adapter into %s", len(ids), index_dir, model_dir, out_dir
    )
    return Path(out_dir)


def _write_dense(
    out_dir: str | Path,
    index: faiss.Index,
    ids: np.ndarray,
    store: PassageStore,
    encoder: EncoderInfo,
    config: IndexConfig,
    overwrite: bool,
    embeddings: Location | None = None,
    vectors: Path | None = None,
) -> None:
    """Write a dense index folder atomically: the FAISS index, the passage ids and its meta
    (``embeddings``: where the vectors it was built from are kept, if anywhere; ``vectors``:
    a ``.npy`` of every passage's vector, moved into the index as its own embeddings folder)."""
    with writing(out_dir, Artifact.DENSE_INDEX, overwrite=overwrite) as tmp:
        tmp.mkdir(parents=True)
        save_faiss(index, tmp)
        np.save(tmp / IDS_FILE, ids)
        if vectors is not None:
            keep_vectors(vectors, tmp / EMBEDDINGS_DIR, encoder.identity(), encoder.model, store)
            embeddings = Location.of(Path(out_dir) / EMBEDDINGS_DIR, out_dir)
        meta = IndexMeta.new(
            DENSE,
            store,
            out_dir,
            encoder=encoder,
            faiss=config.resolved(len(ids)).to_dict(),
            embeddings=embeddings,
            versions={"faiss": faiss.__version__},
        )
        write_json(tmp / INDEX_META, meta.to_dict())
