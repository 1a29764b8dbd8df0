"""Corpus encoding: resumable, shardable, and the FAISS index built on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError
from uniret.index import encode
from uniret.index.encode import (
    EncodeConfig,
    encode_shard,
    length_order,
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


def _token_counts(model: BiEncoder, store: PassageStore, ids: np.ndarray) -> np.ndarray:
    rows = store.get_many(ids.tolist())
    return model.passage_token_counts([p.title for p in rows], [p.text for p in rows])


def _encoded_ids(model: BiEncoder, store: PassageStore, out: Path, num_shards: int) -> np.ndarray:
    """Passage ids in the order an encoding run with ``num_shards`` shards took them."""
    for shard in range(num_shards):
        encode_shard(model, "tiny", store, out, shard=shard, num_shards=num_shards, config=CFG)
    return np.concatenate(
        [np.load(out / f"{shard_name(i, num_shards)}.ids.npy") for i in range(num_shards)]
    )


def test_each_window_is_ordered_by_tokens(
    model: BiEncoder, store: PassageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encode, "WINDOW_BATCHES", 2)  # windows of 6 passages at batch 3
    chars, one = length_order(store), _encoded_ids(model, store, tmp_path / "one", 1)
    unsorted = 0
    for start in range(0, len(store), 6):
        window = one[start : start + 6]
        assert sorted(window) == sorted(chars[start : start + 6])  # same passages
        assert np.all(np.diff(_token_counts(model, store, window)) <= 0)  # longest first
        unsorted += int(np.any(np.diff(_token_counts(model, store, chars[start : start + 6])) > 0))
    assert unsorted > 0  # the fixture's character order is not already the token order
    np.testing.assert_array_equal(_encoded_ids(model, store, tmp_path / "three", 3), one)


def test_multi_batch_calls_shards_and_resumption_give_the_same_bytes(
    model: BiEncoder, store: PassageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encode, "WINDOW_BATCHES", 4)  # calls of up to 3 batches of 2
    config = EncodeConfig(batch_size=2, checkpoint_every=3)
    full = encode_shard(model, "tiny", store, tmp_path / "full", config=config)
    assert full is not None
    emb = load_embeddings(tmp_path / "full")
    passages = store.get_many(range(len(store)))
    direct = model.embed_passages(
        [p.title for p in passages], [p.text for p in passages], batch_size=1
    )
    np.testing.assert_allclose(emb.vectors, direct, rtol=1e-4, atol=1e-5)
    for shard in range(3):
        encode_shard(model, "tiny", store, tmp_path / "three", shard=shard, num_shards=3,
                     config=config)  # fmt: skip
    assert load_embeddings(tmp_path / "three").vectors.tobytes() == emb.vectors.tobytes()
    # cut inside the second window (after batches 0-2, 3, 4): the first is not ordered again
    assert encode_shard(model, "tiny", store, tmp_path / "cut", config=config, stop_after=5) is None
    tokenized: list[int] = []
    counts = model.passage_token_counts
    monkeypatch.setattr(
        model, "passage_token_counts", lambda t, x: tokenized.append(len(t)) or counts(t, x)
    )
    resumed = encode_shard(model, "tiny", store, tmp_path / "cut", config=config)
    assert resumed is not None and resumed.read_bytes() == full.read_bytes()
    assert sum(tokenized) == len(store) - 8
    assert (tmp_path / "cut" / f"{shard_name(0, 1)}.ids.npy").read_bytes() == (
        tmp_path / "full" / f"{shard_name(0, 1)}.ids.npy"
    ).read_bytes()
    assert not list((tmp_path / "cut").glob("*.partial*"))


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
