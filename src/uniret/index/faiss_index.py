"""FAISS inner-product indexes over merged embeddings: exact (flat, or flat over fp16 / int8
scalar-quantized vectors), HNSW and IVF-PQ (optionally OPQ-rotated, and refined: the IVF-PQ
candidates re-scored with stored fp16 or fp32 vectors, which restores exact top-k order)."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

logger = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"


class IndexType(enum.StrEnum):
    """FAISS index families."""

    FLAT = "flat"
    """Exact inner-product search."""
    HNSW = "hnsw"
    """Graph search (HNSW), approximate, no training."""
    IVFPQ = "ivfpq"
    """Inverted lists + product quantisation: small and fast, approximate, trained."""
    FP16 = "fp16"
    """Exact search over vectors stored in fp16 (half the memory of flat)."""
    SQ8 = "sq8"
    """Exact search over vectors stored as 8-bit scalars (a quarter of flat), trained."""
    AUTO = "auto"
    """By corpus size: flat up to ``auto_flat_max`` vectors, else IVF-PQ refined with fp16."""


@dataclass(frozen=True)
class IndexConfig:
    """Index type and its parameters.

    HNSW: ``hnsw_m`` links per node, ``ef_construction`` / ``ef_search`` beam widths.
    IVF-PQ: ``nlist`` lists (0: about 4·sqrt(N)), ``pq_m`` sub-quantisers (must divide the
    dimension), ``pq_bits`` bits each, ``nprobe`` lists visited per query, ``opq`` rotates the
    vectors first; ``refine`` (``fp16`` or ``fp32``) keeps the vectors too and re-scores the
    ``k_factor`` x k best candidates with them. ``auto``: flat up to ``auto_flat_max``
    vectors, else IVF-PQ over sqrt(N) lists, nprobe 128, fp16 refinement of 16 x k candidates.
    """

    type: IndexType = IndexType.FLAT
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 256
    nlist: int = 0
    pq_m: int = 48
    pq_bits: int = 8
    nprobe: int = 32
    opq: bool = False
    refine: str = ""
    k_factor: int = 4
    auto_flat_max: int = 200_000
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", IndexType(self.type))
        if self.refine not in ("", "fp16", "fp32"):
            raise ValueError(f"refine must be '', fp16 or fp32, got {self.refine!r}")
        if self.k_factor < 1 or self.nprobe < 1:
            raise ValueError("k_factor and nprobe must be >= 1")

    def resolved(self, count: int) -> IndexConfig:
        """``auto`` made concrete for ``count`` vectors (other types unchanged)."""
        if self.type is not IndexType.AUTO:
            return self
        if count <= self.auto_flat_max:
            return replace(self, type=IndexType.FLAT)
        # measured at 1M vectors (benchmarks/bench_index_scale.py): overlap@100 with flat
        # 0.95 at 7.9x its queries/s
        return replace(
            self,
            type=IndexType.IVFPQ,
            nlist=self.nlist or max(64, min(4096, int(math.sqrt(count)))),
            nprobe=max(self.nprobe, 128),
            refine=self.refine or "fp16",
            k_factor=max(self.k_factor, 16),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = str(self.type)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "type": IndexType(data["type"])})


def build_faiss(vectors: np.ndarray, config: IndexConfig) -> faiss.Index:
    """A FAISS index over ``vectors`` (row i = passage id i), inner-product metric; ``auto``
    is resolved by the number of vectors (the meta records the resolved config)."""
    ids = np.arange(len(vectors), dtype=np.int64)
    return build_faiss_from_shards([(ids, vectors)], config)[0]


def build_faiss_from_shards(
    shards: Sequence[tuple[np.ndarray, np.ndarray]], config: IndexConfig, chunk: int = 16_384
) -> tuple[faiss.Index, np.ndarray]:
    """A FAISS index over the vectors of every ``(passage ids, vectors)`` shard (ids 0..N-1
    between them), added ``chunk`` rows at a time in passage-id order (memory-mapped shards are
    never loaded whole); returns it with the passage id of each of its rows. Trained index
    types learn from one seeded sample of rows drawn across all shards. Vectors holding NaN
    or infinity are refused."""
    sizes = [len(ids) for ids, _ in shards]
    n, dim = sum(sizes), shards[0][1].shape[1]
    config = config.resolved(n)
    index = _new_index(config, n, dim)
    if not index.is_trained:
        rng = np.random.default_rng(config.seed)
        nlist = _nlist(config, n)
        size = min(n, max(256 * nlist, 2**config.pq_bits * 39))
        if config.type in (IndexType.FP16, IndexType.SQ8):
            size = n  # a scalar quantizer's ranges come from every vector
        index.train(_rows(shards, sizes, rng.choice(n, size=size, replace=False)))
    # rows go in passage-id order (row i = passage i, as a merged array would give), read
    # ``chunk`` at a time from wherever each passage's shard holds it
    all_ids = np.concatenate([ids for ids, _ in shards]).astype(np.int64)
    position = np.empty(n, dtype=np.int64)
    position[all_ids] = np.arange(n, dtype=np.int64)
    for start in range(0, n, chunk):
        block = _rows(shards, sizes, position[start : start + chunk])
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            first = start + int(np.flatnonzero(bad)[0])
            raise ValueError(f"vectors hold NaN or infinity (first: passage {first})")
        index.add(block)
    set_search_params(index, config)
    return index, np.arange(n, dtype=np.int64)


def _nlist(config: IndexConfig, n: int) -> int:
    return config.nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))


def _rows(
    shards: Sequence[tuple[np.ndarray, np.ndarray]], sizes: list[int], positions: np.ndarray
) -> np.ndarray:
    """Rows at global ``positions`` (over the shards in order), in that order, as float32."""
    starts = np.cumsum([0, *sizes])
    out = np.empty((len(positions), shards[0][1].shape[1]), dtype=np.float32)
    which = np.searchsorted(starts, positions, side="right") - 1
    for shard in np.unique(which):
        where = np.flatnonzero(which == shard)
        local = positions[where] - starts[shard]
        order = np.argsort(local)  # sorted reads from a memory map
        out[where[order]] = shards[shard][1][local[order]]
    return out


def _new_index(config: IndexConfig, n: int, dim: int) -> faiss.Index:
    """An empty index of ``config``'s (resolved) type."""
    ip = faiss.METRIC_INNER_PRODUCT
    if config.type is IndexType.FLAT:
        return faiss.IndexFlatIP(dim)
    if config.type in (IndexType.FP16, IndexType.SQ8):
        quantizer = faiss.ScalarQuantizer
        kind = quantizer.QT_fp16 if config.type is IndexType.FP16 else quantizer.QT_8bit
        return faiss.IndexScalarQuantizer(dim, kind, ip)
    if config.type is IndexType.HNSW:
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, ip)
        index.hnsw.efConstruction = config.ef_construction
        return index
    if dim % config.pq_m:
        raise ValueError(f"pq_m={config.pq_m} must divide the dimension {dim}")
    spec = f"IVF{_nlist(config, n)},PQ{config.pq_m}x{config.pq_bits}"
    if config.opq:
        spec = f"OPQ{config.pq_m},{spec}"
    if config.refine:
        spec += ",RFlat" if config.refine == "fp32" else ",Refine(SQfp16)"
    return faiss.index_factory(dim, spec, ip)


def set_search_params(index: faiss.Index, config: IndexConfig) -> None:
    """Apply query-time knobs (efSearch, nprobe, k_factor) that FAISS does not save."""
    if config.type is IndexType.HNSW:
        index.hnsw.efSearch = config.ef_search
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = config.nprobe
    top = faiss.downcast_index(index)
    if isinstance(top, faiss.IndexRefine):
        top.k_factor = config.k_factor


def save_faiss(index: faiss.Index, directory: str | Path) -> None:
    """Write the index file."""
    faiss.write_index(index, str(Path(directory) / INDEX_FILE))


def load_faiss(directory: str | Path, config: IndexConfig) -> faiss.Index:
    """Read the index file and re-apply search parameters."""
    index = faiss.read_index(str(Path(directory) / INDEX_FILE))
    set_search_params(index, config)
    return index
