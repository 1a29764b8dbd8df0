"""Dense index families at growing corpus sizes: memory, build time, q/s and overlap with flat.

The corpus is the real base-model embeddings of kiltmini (from ``uniret encode``) and, above
their size, synthetic vectors drawn around real ones: a random real passage vector plus
Gaussian noise, renormalised (``--noise`` sets the noise's share of the norm). Queries are the
real kiltmini dev queries encoded with the same model. Each index type answers all queries in
one batched call (all threads, best of ``--repeat``); overlap@k = |top-k ∩ exact top-k| / k,
averaged; memory is the serialized index size (counted while streaming, never held twice).
Synthetic vectors live in a memory-mapped file and flat search scans them in place (FAISS's
brute-force k-NN, the kernel of ``IndexFlatIP``; its memory is the vectors' size), so 5M
vectors fit beside other work.
HNSW is swept over efSearch, IVF-PQ over nprobe and refinement; ``--types`` picks the
families.

    python benchmarks/bench_index_scale.py --embeddings runs/quickstart/shared/emb-base \\
        --sizes 38175,1000000
    python benchmarks/bench_index_scale.py --embeddings runs/quickstart/shared/emb-base \\
        --sizes 1000000 --types flat,hnsw
    python benchmarks/bench_index_scale.py --embeddings runs/quickstart/shared/emb-base \\
        --sizes 5000000 --types flat,ivfpq --repeat 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from uniret.defaults import DEFAULT_DATA
from uniret.index.encode import load_embeddings
from uniret.index.faiss_index import IndexConfig, IndexType, build_faiss
from uniret.models.biencoder import BiEncoder, BiEncoderConfig
from uniret.tasks.kilt import find_task_files, read_examples


def corpus(real: np.ndarray, size: int, noise: float, folder: Path, seed: int = 0) -> np.ndarray:
    """``size`` vectors: the real ones first, then noisy copies of random real ones, in a
    memory-mapped file under ``folder`` (page cache, not process memory)."""
    if size <= len(real):
        return real[:size]
    rng = np.random.default_rng(seed)
    path = folder / f"corpus-{size}.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(size, real.shape[1]))
    out[: len(real)] = real
    for start in range(len(real), size, 100_000):
        stop = min(start + 100_000, size)
        base = real[rng.integers(len(real), size=stop - start)]
        jitter = rng.normal(size=base.shape).astype(np.float32)
        jitter *= noise / np.linalg.norm(jitter, axis=1, keepdims=True)
        block = base + jitter
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


class ExactScan:
    """Flat search without an index copy: FAISS's brute-force inner-product k-NN (the kernel
    of ``IndexFlatIP``) straight over the (memory-mapped) vectors."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return faiss.knn(queries, self.vectors, k, metric=faiss.METRIC_INNER_PRODUCT)


def configs(size: int) -> dict[str, IndexConfig]:
    """Index builds per size (the shipped defaults); IVF-PQ is built once, refined with fp16,
    and swept over its search-time knobs (nprobe, k_factor; k_factor 0 = the IVF-PQ ranking
    without refinement); HNSW over efSearch."""
    nlist = max(64, min(4096, int(np.sqrt(size))))
    return {
        "flat": IndexConfig(),
        "fp16": IndexConfig(type=IndexType.FP16),
        "sq8": IndexConfig(type=IndexType.SQ8),
        "hnsw": IndexConfig(type=IndexType.HNSW),
        "ivfpq": IndexConfig(
            type=IndexType.IVFPQ, nlist=nlist, pq_m=48, nprobe=32, refine="fp16", k_factor=4
        ),
    }


SWEEP = [(16, 0), (32, 0), (32, 4), (64, 4), (64, 8), (128, 8), (128, 16), (256, 16), (256, 32)]
EF_SEARCH = [64, 128, 256, 512]


def variants(name: str, index: faiss.Index) -> list[tuple[str, faiss.Index, Callable[[], None]]]:
    """``(label, index to search, setting)``: the index itself, or one entry per point of a
    sweep: IVF-PQ's (k_factor 0: its base IVF-PQ, unrefined) or HNSW's efSearch."""
    if name == "hnsw":

        def ef(value: int) -> Callable[[], None]:
            return lambda: setattr(index.hnsw, "efSearch", value)

        return [(f"hnsw efSearch {value}", index, ef(value)) for value in EF_SEARCH]
    if name != "ivfpq":
        return [(name, index, lambda: None)]
    base = faiss.downcast_index(index).base_index

    def knobs(nprobe: int, k_factor: int) -> Callable[[], None]:
        def apply() -> None:
            faiss.extract_index_ivf(index).nprobe = nprobe
            if k_factor:
                faiss.downcast_index(index).k_factor = k_factor

        return apply

    return [
        (
            f"ivfpq nprobe {nprobe}" + (f" + fp16 refine x{k_factor}" if k_factor else ""),
            index if k_factor else base,
            knobs(nprobe, k_factor),
        )
        for nprobe, k_factor in SWEEP
    ]


def serialized_mib(index: faiss.Index) -> float:
    """Size of the index file, counted as FAISS streams it out (nothing kept)."""
    total = 0

    def count(chunk: bytes) -> int:
        nonlocal total
        total += len(chunk)
        return len(chunk)

    faiss.write_index(index, faiss.PyCallbackIOWriter(count))
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embeddings", required=True)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="38175,1000000")
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--tmp", default=None, help="folder for the synthetic vectors' file (default: /tmp)"
    )
    parser.add_argument(
        "--types",
        default="flat,fp16,sq8,ivfpq",
        help="index families, comma-separated, among flat, fp16, sq8, hnsw, ivfpq (flat is "
        "always built first: it gives the exact top-k)",
    )
    args = parser.parse_args()
    types = ["flat", *(t for t in args.types.split(",") if t != "flat")]
    folder = tempfile.TemporaryDirectory(prefix="uniret-scale-", dir=args.tmp)
    emb = load_embeddings(args.embeddings)
    model = BiEncoder.from_pretrained(
        emb.meta["model"], BiEncoderConfig.from_dict(emb.meta["biencoder"])
    )
    queries = np.concatenate(
        [
            model.embed_inputs([e.input for e in read_examples(tf.path)], tf.task)
            for tf in find_task_files(args.data, "dev")
        ]
    )
    for size in (int(s) for s in args.sizes.split(",")):
        x = corpus(emb.vectors, size, args.noise, Path(folder.name))
        exact = None
        flat_qps = None
        for kind in types:
            started = time.perf_counter()
            if kind == "flat":  # what IndexFlatIP holds and does, without copying the vectors
                built, memory = ExactScan(x), x.nbytes / 2**20
            else:
                built = build_faiss(x, configs(size)[kind])
                memory = serialized_mib(built)
            build = time.perf_counter() - started
            for name, index, setting in variants(kind, built):
                setting()
                best = float("inf")
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    _, ids = index.search(queries, args.k)
                    best = min(best, time.perf_counter() - started)
                if exact is None:
                    exact = ids
                overlap = np.mean(
                    [len(set(a) & set(b)) / args.k for a, b in zip(ids, exact, strict=True)]
                )
                qps = len(queries) / best
                flat_qps = flat_qps or qps
                row = {
                    "vectors": size,
                    "index": name,
                    "memory_mib": round(memory, 1),
                    "build_s": round(build, 1),
                    "queries_per_s": round(qps),
                    "speed_vs_flat": round(qps / flat_qps, 2),
                    f"overlap@{args.k}": round(float(overlap), 4),
                }
                print(json.dumps(row), flush=True)
            del built
    print(
        f"{len(queries)} real dev queries, {faiss.omp_get_max_threads()} threads, "
        f"synthetic noise {args.noise}"
    )


if __name__ == "__main__":
    main()
