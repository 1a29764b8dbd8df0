"""Sharded, resumable corpus encoding to .npy.

The corpus is ordered globally by passage length in characters (longest first), cut into
windows of :data:`WINDOW_BATCHES` batches, and each window re-ordered by token count: batches
then hold passages of nearly equal token length, so little of each forward pass is padding
(about 1% on kiltmini against 17% in character order), while a shard tokenizes only its own
windows. Shard ``i`` of ``n`` takes a contiguous run of batches. So every passage is encoded in
the same batch whatever the sharding, and shards merged give exactly the bytes of a one-shard
run. The batches of a window go to the model in one call (a pipelined backend keeps every core
busy across them). A shard writes into a memory-mapped ``.npy`` and records finished batches in
a progress file; a killed run continues from there, and the finished shard equals an
uninterrupted one.

Shard files: ``shard-00000-of-00004.npy`` (vectors, rows in ``ids`` order),
``shard-00000-of-00004.ids.npy`` (passage ids, int64) and ``shard-00000-of-00004.json``.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import torch

from uniret import __version__
from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError, damaged
from uniret.index.meta import EncoderInfo
from uniret.io import read_json, write_json
from uniret.models.biencoder import BiEncoder
from uniret.outputs import Artifact, claimed

logger = logging.getLogger(__name__)

FORMAT = "uniret.embeddings/1"
WINDOW_BATCHES = 32
"""Batches per ordering window: inside one, passages are ordered by token count."""
ORDER = f"tokens-in-windows-of-{WINDOW_BATCHES}-batches"


@dataclass(frozen=True)
class EncodeConfig:
    """Corpus-encoding options: ``batch_size`` passages per forward pass, ``dtype`` of the
    stored vectors (float32 or float16), ``checkpoint_every`` batches between progress saves
    (default one ordering window: a save also ends a model call)."""

    batch_size: int = 64
    dtype: str = "float32"
    checkpoint_every: int = WINDOW_BATCHES

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {self.dtype!r}")
        if self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("batch_size and checkpoint_every must be >= 1")


def shard_name(shard: int, num_shards: int) -> str:
    """File stem of one shard."""
    return f"shard-{shard:05d}-of-{num_shards:05d}"


def length_order(store: PassageStore) -> np.ndarray:
    """Passage ids, longest text (title + text, in characters) first; ties by id."""
    lengths = pc.add(
        pc.utf8_length(store.table.column("text")), pc.utf8_length(store.table.column("title"))
    ).to_numpy()
    return np.lexsort((np.arange(len(lengths)), -lengths)).astype(np.int64)


def window_ids(
    model: BiEncoder, store: PassageStore, order: np.ndarray, window: int, batch_size: int
) -> np.ndarray:
    """Passage ids of ordering window ``window`` (of :data:`WINDOW_BATCHES` batches) of the
    character ``order``, by the model's token count, longest first (ties keep ``order``)."""
    size = WINDOW_BATCHES * batch_size
    ids = order[window * size : (window + 1) * size]
    rows = store.table.take(ids)
    counts = model.passage_token_counts(
        rows.column("title").to_pylist(), rows.column("text").to_pylist()
    )
    return ids[np.argsort(-counts, kind="stable")]


def shard_batches(total: int, batch_size: int, shard: int, num_shards: int) -> tuple[int, int]:
    """The global batch range ``[first, last)`` of shard ``shard``."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
    batches = -(-total // batch_size)
    return shard * batches // num_shards, (shard + 1) * batches // num_shards


def model_identity(model: BiEncoder, model_name: str) -> dict[str, Any]:
    """What must match between shards and at query time: model, pooling, shaping, and the
    inference backend when it is not PyTorch (int8 vectors are not fp32 vectors)."""
    return EncoderInfo(
        model=model_name,
        pooling=str(model.passage_encoder.pooling),
        normalize=model.passage_encoder.normalize,
        dim=model.passage_encoder.dim,
        biencoder=model.config.to_dict(),
        backend=model.backend.label,
    ).identity()


def calibration_texts(
    store: PassageStore, model: BiEncoder, count: int, seed: int = 0
) -> list[str]:
    """``count`` passages drawn at random (seeded), as the model's passage inputs: the sample
    an int8 backend is calibrated on."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(len(store), size=min(count, len(store)), replace=False))
    rows = store.table.take(ids)
    return model.passage_texts(rows.column("title").to_pylist(), rows.column("text").to_pylist())


def encode_shard(
    model: BiEncoder,
    model_name: str,
    store: PassageStore,
    out_dir: str | Path,
    *,
    shard: int = 0,
    num_shards: int = 1,
    config: EncodeConfig = EncodeConfig(),
    progress: Callable[[int], None] | None = None,
    stop_after: int | None = None,
) -> Path | None:
    """Encode one shard of the corpus into ``out_dir``; resume a partial run if there is one.

    Returns the finished shard's vector file, or None when ``stop_after`` batches were done
    first (used to test resumption). ``out_dir`` must be new, empty or an embeddings folder;
    one process at a time may write a given shard.
    """
    stem = shard_name(shard, num_shards)
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
    with claimed(out_dir, Artifact.EMBEDDINGS, part=stem):
        return _encode_shard(
            model,
            model_name,
            store,
            Path(out_dir),
            stem,
            shard,
            num_shards,
            config,
            progress,
            stop_after,
        )


def _encode_shard(
    model: BiEncoder,
    model_name: str,
    store: PassageStore,
    out: Path,
    stem: str,
    shard: int,
    num_shards: int,
    config: EncodeConfig,
    progress: Callable[[int], None] | None,
    stop_after: int | None,
) -> Path | None:
    final = out / f"{stem}.npy"
    identity = model_identity(model, model_name)
    meta = _shard_meta(identity, model_name, store, shard, num_shards, config)
    for other in _shard_metas(out):  # every shard of a folder must agree
        _check_same(read_json(other), meta, other)
    if final.exists():
        logger.info("%s already encoded", final)
        return final

    # windows are ordered as they come (a resumed run tokenizes only what is left); their
    # ids go to a memory-mapped file beside the vectors, saved with them
    order = length_order(store)
    first, last = shard_batches(len(store), config.batch_size, shard, num_shards)
    start = first * config.batch_size
    count = max(0, min(last * config.batch_size, len(store)) - start)
    partial = out / f"{stem}.partial.npy"
    partial_ids = out / f"{stem}.partial.ids.npy"
    progress_file = out / f"{stem}.progress.json"
    done_batches = 0
    if partial.exists() and partial_ids.exists() and progress_file.exists():
        state = read_json(progress_file)
        _check_same(state["meta"], meta, progress_file)
        done_batches = int(state["batches_done"])
        vectors = np.lib.format.open_memmap(partial, mode="r+")
        ids = np.lib.format.open_memmap(partial_ids, mode="r+")
        logger.info("resuming %s at batch %d of %d", stem, done_batches, last - first)
    else:
        vectors = np.lib.format.open_memmap(
            partial, mode="w+", dtype=np.dtype(config.dtype), shape=(count, identity["dim"])
        )
        ids = np.lib.format.open_memmap(partial_ids, mode="w+", dtype=np.int64, shape=(count,))
    if progress is not None and done_batches:
        progress(min(done_batches * config.batch_size, count))

    started = time.perf_counter()
    total = last - first
    window_size = WINDOW_BATCHES * config.batch_size
    ordered: tuple[int, np.ndarray] = (-1, order[:0])
    b = done_batches
    while b < total:
        # one call runs the batches up to the next window end, checkpoint or stop
        ends = [total, (b // config.checkpoint_every + 1) * config.checkpoint_every]
        ends.append((first + b) // WINDOW_BATCHES * WINDOW_BATCHES + WINDOW_BATCHES - first)
        if stop_after is not None:
            ends.append(done_batches + stop_after)
        finished = min(ends)
        rows = slice(b * config.batch_size, min(finished * config.batch_size, count))
        window, offset = divmod(start + rows.start, window_size)
        if window != ordered[0]:  # a window may take several calls: order it once
            ordered = (window, window_ids(model, store, order, window, config.batch_size))
        ids[rows] = ordered[1][offset : offset + rows.stop - rows.start]
        passages = store.table.take(ids[rows])
        out_vectors = model.embed_passages(
            passages.column("title").to_pylist(),
            passages.column("text").to_pylist(),
            batch_size=config.batch_size,
        )
        vectors[rows] = out_vectors.astype(config.dtype)
        if progress is not None:
            progress(len(out_vectors))
        stopping = (
            stop_after is not None and finished - done_batches >= stop_after and finished < total
        )
        if stopping or finished % config.checkpoint_every == 0 or finished == total:
            vectors.flush()
            ids.flush()
            write_json(progress_file, {"meta": meta, "batches_done": finished})
        if stopping:
            return None
        b = finished
    vectors.flush()
    del vectors
    np.save(out / f"{stem}.ids.npy", np.asarray(ids))
    del ids
    meta.update(
        seconds=round(time.perf_counter() - started, 2),
        count=count,
        versions={
            "uniret": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    )
    write_json(out / f"{stem}.json", meta)
    os.replace(partial, final)
    progress_file.unlink(missing_ok=True)
    partial_ids.unlink(missing_ok=True)
    return final


def _shard_meta(
    identity: dict[str, Any],
    model_name: str,
    store: PassageStore,
    shard: int,
    num_shards: int,
    config: EncodeConfig,
) -> dict[str, Any]:
    """What a shard's meta file says before its vectors are counted."""
    return {
        "format": FORMAT,
        **identity,
        # where a local model lay (read by indexes, never compared: see _MUST_MATCH)
        "model_path": str(Path(model_name).resolve()) if Path(model_name).is_dir() else "",
        "corpus_hash": store.corpus_hash,
        "passages": str(store.directory.resolve()),
        "corpus_size": len(store),
        "shard": shard,
        "num_shards": num_shards,
        "batch_size": config.batch_size,
        "dtype": config.dtype,
        "order": ORDER,
    }


def keep_vectors(
    vectors_file: Path, out: Path, identity: dict[str, Any], model_name: str, store: PassageStore
) -> None:
    """Make a finished float32 ``.npy`` of the whole corpus (row i is passage i) the one
    shard of the embeddings folder ``out`` (the file is moved there), e.g. vectors mapped by
    a passage adapter, so that an index over them that keeps only compressed codes can still
    give them back."""
    out.mkdir(parents=True)
    stem = shard_name(0, 1)
    meta = _shard_meta(identity, model_name, store, 0, 1, EncodeConfig(dtype="float32"))
    meta.update(count=len(store), order="passage-id")
    np.save(out / f"{stem}.ids.npy", np.arange(len(store), dtype=np.int64))
    os.replace(vectors_file, out / f"{stem}.npy")
    write_json(out / f"{stem}.json", meta)


def _shard_metas(folder: Path) -> list[Path]:
    """Meta files of finished shards (not the progress files of running ones)."""
    return [p for p in sorted(folder.glob("shard-*-of-*.json")) if p.name.count(".") == 1]


_MUST_MATCH = ("model", "pooling", "normalize", "dim", "biencoder", "corpus_hash", "backend")


def _check_same(found: dict[str, Any], expected: dict[str, Any], where: Path) -> None:
    for key in (*_MUST_MATCH, "corpus_size", "num_shards", "batch_size", "dtype", "order"):
        if found.get(key) != expected.get(key):
            raise ArtifactError(
                f"{where}: {key} is {found.get(key)!r} but this run has {expected.get(key)!r}; "
                "use another --out folder or remove the old files"
            )


@dataclass
class Embeddings:
    """All shards of one encoding run, merged: vectors in passage-id order."""

    vectors: np.ndarray
    meta: dict[str, Any]


@dataclass
class ShardedEmbeddings:
    """The shards of one encoding run, checked and memory-mapped, not merged: ``shards`` holds
    ``(passage ids, vectors)`` per shard, vectors row i belonging to passage ``ids[i]``."""

    shards: list[tuple[np.ndarray, np.ndarray]]
    meta: dict[str, Any]
    _where: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self.shards)

    def take(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of passages ``ids`` (float32, in that order), read from the memory-mapped
        shards; the first call builds a passage -> (shard, row) map (9 bytes per passage)."""
        if self._where is None:
            size = self.meta["corpus_size"]
            shard_of = np.zeros(size, dtype=np.uint8 if len(self.shards) < 256 else np.int32)
            row_of = np.zeros(size, dtype=np.int64)
            for k, (shard_ids, _) in enumerate(self.shards):
                shard_of[shard_ids] = k
                row_of[shard_ids] = np.arange(len(shard_ids))
            self._where = (shard_of, row_of)
        ids = np.asarray(ids, dtype=np.int64)
        shard_of, row_of = self._where
        out = np.empty((len(ids), self.meta["dim"]), dtype=np.float32)
        owners = shard_of[ids]
        for k in np.unique(owners):
            picked = owners == k
            out[picked] = self.shards[int(k)][1][row_of[ids[picked]]]
        return out

    def merge(self) -> Embeddings:
        """All vectors in passage-id order, in memory (float32)."""
        merged = np.zeros((self.meta["corpus_size"], self.meta["dim"]), dtype=np.float32)
        for ids, vectors in self.shards:
            merged[ids] = vectors
        return Embeddings(merged, self.meta)


def load_embeddings(directory: str | Path) -> Embeddings:
    """Merge every shard of ``directory`` into one array ordered by passage id.

    Refuses shards from different models or corpora, missing shards and gaps.
    """
    return open_embeddings(directory).merge()


def open_embeddings(directory: str | Path) -> ShardedEmbeddings:
    """Check and memory-map every shard of ``directory`` (nothing is loaded whole).

    Refuses shards from different models or corpora, missing shards and gaps.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: no such embeddings folder (run `uniret encode`)")

    def broken() -> AbstractContextManager[None]:
        return damaged(f"embeddings {folder}", "encode again with `uniret encode` in a new --out")

    with broken():
        metas = [read_json(p) for p in _shard_metas(folder)]
    if not metas:
        raise ArtifactError(f"{folder}: no finished embedding shards (run `uniret encode`)")
    with broken():
        return _open_shards(folder, metas)


def _open_shards(folder: Path, metas: list[dict[str, Any]]) -> ShardedEmbeddings:
    reference = metas[0]
    for meta in metas[1:]:
        for key in (*_MUST_MATCH, "num_shards"):
            if meta.get(key) != reference.get(key):
                raise ArtifactError(
                    f"{folder}: shards disagree on {key} ({reference.get(key)!r} vs "
                    f"{meta.get(key)!r}); embeddings of different models or corpora can't be mixed"
                )
    num_shards = reference["num_shards"]
    present = sorted(m["shard"] for m in metas)
    if present != list(range(num_shards)):
        missing = sorted(set(range(num_shards)) - set(present))
        raise ArtifactError(f"{folder}: shards {missing} of {num_shards} are not finished")
    size = reference["corpus_size"]
    seen = np.zeros(size, dtype=bool)
    shards = []
    for meta in sorted(metas, key=lambda m: m["shard"]):
        stem = shard_name(meta["shard"], num_shards)
        ids = np.load(folder / f"{stem}.ids.npy")
        vectors = np.load(folder / f"{stem}.npy", mmap_mode="r")
        if vectors.shape != (len(ids), reference["dim"]) or len(ids) != meta["count"]:
            raise ArtifactError(
                f"{stem}: {vectors.shape} vectors for {len(ids)} ids, expected "
                f"{meta['count']} x {reference['dim']}"
            )
        seen[ids] = True
        shards.append((ids, vectors))
    if not seen.all():
        raise ArtifactError(f"{folder}: {int((~seen).sum())} passages have no vector")
    keys = (*_MUST_MATCH, "model_path", "passages", "corpus_size", "dtype")
    info = {k: reference.get(k) for k in keys}
    info["backend"] = info["backend"] or "torch"
    return ShardedEmbeddings(shards, info)
