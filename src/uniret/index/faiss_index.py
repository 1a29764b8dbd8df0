"""FAISS inner-product indexes over merged embeddings: exact (flat, or flat over fp16 / int8
scalar-quantized vectors), HNSW and IVF-PQ (optionally OPQ-rotated, and refined: the IVF-PQ
candidates re-scored with stored fp16 or fp32 vectors, which restores exact top-k order)."""

from __future__ import annotations

import enum
import logging
import math
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
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = x.shape
    config = config.resolved(n)
    ip = faiss.METRIC_INNER_PRODUCT
    if config.type is IndexType.FLAT:
        index = faiss.IndexFlatIP(dim)
    elif config.type in (IndexType.FP16, IndexType.SQ8):
        quantizer = faiss.ScalarQuantizer
        kind = quantizer.QT_fp16 if config.type is IndexType.FP16 else quantizer.QT_8bit
        index = faiss.IndexScalarQuantizer(dim, kind, ip)
        index.train(x)
    elif config.type is IndexType.HNSW:
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, ip)
        index.hnsw.efConstruction = config.ef_construction
    else:
        if dim % config.pq_m:
            raise ValueError(f"pq_m={config.pq_m} must divide the dimension {dim}")
        nlist = config.nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))
        spec = f"IVF{nlist},PQ{config.pq_m}x{config.pq_bits}"
        if config.opq:
            spec = f"OPQ{config.pq_m},{spec}"
        if config.refine:
            spec += ",RFlat" if config.refine == "fp32" else ",Refine(SQfp16)"
        index = faiss.index_factory(dim, spec, ip)
        rng = np.random.default_rng(config.seed)
        sample = x[
            rng.choice(n, size=min(n, max(256 * nlist, 2**config.pq_bits * 39)), replace=False)
        ]
        index.train(sample)
    index.add(x)
    set_search_params(index, config)
    return index


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
