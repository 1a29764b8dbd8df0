"""FAISS index families against exact search on random unit vectors (real FAISS, no mocks)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from uniret.index.faiss_index import IndexConfig, IndexType, build_faiss, load_faiss, save_faiss

K = 10


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.choice(len(x), 50, replace=False)] + 0.3 * rng.normal(size=(50, 32))
    return x, q.astype(np.float32)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |top-k(a) ∩ top-k(b)| / k over queries."""
    return float(np.mean([len(set(r) & set(s)) / K for r, s in zip(a, b, strict=True)]))


def exact(data: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return build_faiss(data[0], IndexConfig()).search(data[1], K)[1]


def test_refinement_restores_the_exact_top_k(data: tuple[np.ndarray, np.ndarray]) -> None:
    ivfpq = IndexConfig(type=IndexType.IVFPQ, nlist=16, pq_m=8, pq_bits=4, nprobe=16)
    coarse = build_faiss(data[0], ivfpq).search(data[1], K)[1]
    # k_factor x k = every vector: all candidates re-scored with the stored fp32 vectors
    refined_fp32 = IndexConfig(**{**ivfpq.to_dict(), "refine": "fp32", "k_factor": 300})
    fine = build_faiss(data[0], refined_fp32).search(data[1], K)[1]
    truth = exact(data)
    assert overlap(coarse, truth) < 0.9  # 4-bit PQ alone loses neighbours
    assert overlap(fine, truth) == 1.0  # re-scored exactly: the exact top-k
    fp16 = IndexConfig(**{**ivfpq.to_dict(), "refine": "fp16", "k_factor": 100, "opq": True})
    assert overlap(build_faiss(data[0], fp16).search(data[1], K)[1], truth) >= 0.98


@pytest.mark.parametrize("kind,least", [(IndexType.FP16, 0.99), (IndexType.SQ8, 0.95)])
def test_compressed_flat_storage(
    data: tuple[np.ndarray, np.ndarray], kind: IndexType, least: float
) -> None:
    ids = build_faiss(data[0], IndexConfig(type=kind)).search(data[1], K)[1]
    assert overlap(ids, exact(data)) >= least


def test_auto_resolves_by_size_and_search_knobs_survive_saving(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    assert IndexConfig(type=IndexType.AUTO).resolved(len(data[0])).type is IndexType.FLAT
    config = IndexConfig(type=IndexType.AUTO, auto_flat_max=100, nlist=16, pq_m=8, nprobe=16)
    resolved = config.resolved(len(data[0]))
    assert (resolved.type, resolved.refine) == (IndexType.IVFPQ, "fp16")
    assert (resolved.nlist, resolved.nprobe, resolved.k_factor) == (16, 128, 16)
    index = build_faiss(data[0], config)
    save_faiss(index, tmp_path)
    loaded = load_faiss(tmp_path, resolved)
    assert faiss.downcast_index(loaded).k_factor == 16
    assert faiss.extract_index_ivf(loaded).nprobe == 128
    np.testing.assert_array_equal(loaded.search(data[1], K)[1], index.search(data[1], K)[1])
    with pytest.raises(ValueError, match="refine must be"):
        IndexConfig(refine="int4")


def test_shards_are_added_in_passage_id_order(data: tuple[np.ndarray, np.ndarray]) -> None:
    from uniret.index.faiss_index import build_faiss_from_shards

    x = data[0]
    order = np.random.default_rng(1).permutation(len(x))  # shards hold ids in any order
    shards = [(order[:1000], x[order[:1000]]), (order[1000:], x[order[1000:]])]
    index, ids = build_faiss_from_shards(shards, IndexConfig(), chunk=700)
    np.testing.assert_array_equal(ids, np.arange(len(x)))
    np.testing.assert_array_equal(index.reconstruct_n(0, len(x)), x)
    assert overlap(index.search(data[1], K)[1], exact(data)) == 1.0
    broken = x[order[1000:]].copy()
    broken[5, 0] = np.nan
    with pytest.raises(ValueError, match=f"first: passage {order[1005]}"):
        build_faiss_from_shards([shards[0], (order[1000:], broken)], IndexConfig())
