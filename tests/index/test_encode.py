"""Corpus encoding: resumable, shardable, and the FAISS index built on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError
from uniret.index.encode import (
    EncodeConfig,
    encode_shard,
    load_embeddings,
    open_embeddings,
    shard_name,
)
from uniret.models.biencoder import BiEncoder

CFG = EncodeConfig(batch_size=3, checkpoint_every=1)


@pytest.fixture
def model(tiny_model: str) -> BiEncoder:
    return BiEncoder.from_pretrained(tiny_model, pooling="mean", normalize=True)


def test_vectors_follow_passage_ids(model: BiEncoder, store: PassageStore, tmp_path: Path) -> None:
    encode_shard(model, "tiny", store, tmp_path / "e", config=CFG)
    emb = load_embeddings(tmp_path / "e")
    passages = store.get_many(range(len(store)))
    direct = model.embed_passages(
        [p.title for p in passages], [p.text for p in passages], batch_size=1
    )
    np.testing.assert_allclose(emb.vectors, direct, rtol=1e-4, atol=1e-5)
    assert emb.meta["corpus_hash"] == store.corpus_hash and emb.meta["dim"] == 32


def test_interrupted_encode_resumes_to_identical_bytes(
    model: BiEncoder, store: PassageStore, tmp_path: Path
) -> None:
    full = encode_shard(model, "tiny", store, tmp_path / "full", config=CFG)
    assert encode_shard(model, "tiny", store, tmp_path / "cut", config=CFG, stop_after=2) is None
    assert not (tmp_path / "cut" / f"{shard_name(0, 1)}.npy").exists()  # nothing final yet
    resumed = encode_shard(model, "tiny", store, tmp_path / "cut", config=CFG)
    assert resumed is not None and full is not None
    assert resumed.read_bytes() == full.read_bytes()
    assert not list((tmp_path / "cut").glob("*.partial.npy"))


def test_two_shards_merged_equal_one_run(
    model: BiEncoder, store: PassageStore, tmp_path: Path
) -> None:
    encode_shard(model, "tiny", store, tmp_path / "one", config=CFG)
    for shard in (0, 1):
        encode_shard(model, "tiny", store, tmp_path / "two", shard=shard, num_shards=2, config=CFG)
    one, two = load_embeddings(tmp_path / "one"), load_embeddings(tmp_path / "two")
    assert one.vectors.tobytes() == two.vectors.tobytes()
    # rows looked up by passage id straight from the memory-mapped shards, in any order
    ids = np.array([len(store) - 1, 0, 3, 3, 1])
    np.testing.assert_array_equal(open_embeddings(tmp_path / "two").take(ids), one.vectors[ids])


def test_missing_shard_and_mixed_models_are_refused(
    model: BiEncoder, tiny_model: str, store: PassageStore, tmp_path: Path
) -> None:
    encode_shard(model, "tiny", store, tmp_path / "e", shard=0, num_shards=2, config=CFG)
    with pytest.raises(ArtifactError, match=r"shards \[1\] of 2 are not finished"):
        load_embeddings(tmp_path / "e")
    other = BiEncoder.from_pretrained(tiny_model, pooling="cls", normalize=False)
    with pytest.raises(ArtifactError, match="pooling"):  # resuming into a folder of another model
        encode_shard(other, "tiny", store, tmp_path / "e", shard=1, num_shards=2, config=CFG)


def test_float16_storage(model: BiEncoder, store: PassageStore, tmp_path: Path) -> None:
    path = encode_shard(
        model, "tiny", store, tmp_path / "h", config=EncodeConfig(batch_size=4, dtype="float16")
    )
    assert path is not None and np.load(path).dtype == np.float16
    assert load_embeddings(tmp_path / "h").vectors.dtype == np.float32
