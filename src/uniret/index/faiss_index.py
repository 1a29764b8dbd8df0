"""FAISS inner-product indexes over merged embeddings: exact (flat), HNSW and IVF-PQ."""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class IndexConfig:
    """Index type and its parameters.

    HNSW: ``hnsw_m`` links per node, ``ef_construction`` / ``ef_search`` beam widths.
    IVF-PQ: ``nlist`` lists (0: about 4·sqrt(N)), ``pq_m`` sub-quantisers (must divide the
    dimension), ``pq_bits`` bits each, ``nprobe`` lists visited per query.
    """

    type: IndexType = IndexType.FLAT
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 256
    nlist: int = 0
    pq_m: int = 48
    pq_bits: int = 8
    nprobe: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", IndexType(self.type))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = str(self.type)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexConfig:
        return cls(**{**data, "type": IndexType(data["type"])})


def build_faiss(vectors: np.ndarray, config: IndexConfig) -> faiss.Index:
    """A FAISS index over ``vectors`` (row i = passage id i), inner-product metric."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = x.shape
    if config.type is IndexType.FLAT:
        index = faiss.IndexFlatIP(dim)
    elif config.type is IndexType.HNSW:
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
    else:
        if dim % config.pq_m:
            raise ValueError(f"pq_m={config.pq_m} must divide the dimension {dim}")
        nlist = config.nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(
            quantizer, dim, nlist, config.pq_m, config.pq_bits, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(config.seed)
        sample = x[
            rng.choice(n, size=min(n, max(256 * nlist, 2**config.pq_bits * 39)), replace=False)
        ]
        index.train(sample)
    index.add(x)
    set_search_params(index, config)
    return index


def set_search_params(index: faiss.Index, config: IndexConfig) -> None:
    """Apply query-time knobs (efSearch, nprobe) that FAISS does not save."""
    if config.type is IndexType.HNSW:
        index.hnsw.efSearch = config.ef_search
    elif config.type is IndexType.IVFPQ:
        index.nprobe = config.nprobe


def save_faiss(index: faiss.Index, directory: str | Path) -> None:
    """Write the index file."""
    faiss.write_index(index, str(Path(directory) / INDEX_FILE))


def load_faiss(directory: str | Path, config: IndexConfig) -> faiss.Index:
    """Read the index file and re-apply search parameters."""
    index = faiss.read_index(str(Path(directory) / INDEX_FILE))
    set_search_params(index, config)
    return index
