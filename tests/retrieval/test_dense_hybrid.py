"""Dense and hybrid retrieval over real FAISS indexes built from a tiny random model."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli_corpus_and_bm25
from uniret.cli import main
from uniret.cli.retrieve import PREDICTIONS_META
from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError
from uniret.index.bm25 import build_bm25_index
from uniret.index.dense import build_dense_index
from uniret.index.encode import EncodeConfig, encode_shard
from uniret.index.faiss_index import IndexConfig, IndexType
from uniret.models.biencoder import BiEncoder
from uniret.models.encoder import ModelError
from uniret.retrieval.dense import DenseRetriever
from uniret.retrieval.hybrid import Fusion, FusionConfig, HybridRetriever, fuse
from uniret.retrieval.loader import load_retriever
from uniret.types import Hit


@pytest.fixture
def dense_index(tiny_model: str, store: PassageStore, tmp_path: Path) -> Path:
    model = BiEncoder.from_pretrained(tiny_model, pooling="mean", normalize=True)
    model.save(tmp_path / "model")
    encode_shard(
        model, str(tmp_path / "model"), store, tmp_path / "emb", config=EncodeConfig(batch_size=4)
    )
    return build_dense_index(tmp_path / "emb", tmp_path / "dense")


def test_dense_search_is_exact_inner_product(dense_index: Path, store: PassageStore) -> None:
    retriever = DenseRetriever.load(dense_index)
    query = "marie curie [SEP] place of birth"
    hits = retriever.search([query], k=len(store))[0]
    q = retriever.model.embed_queries([query])[0]
    p = retriever.model.embed_passages(
        [x.title for x in store.get_many(range(len(store)))],
        [x.text for x in store.get_many(range(len(store)))],
    )
    exact = p @ q
    assert sorted(h.passage_id for h in hits) == list(range(len(store)))
    # each hit carries its exact inner product, and the list is sorted by it
    np.testing.assert_allclose(
        [h.score for h in hits], exact[[h.passage_id for h in hits]], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose([h.score for h in hits], np.sort(p @ q)[::-1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", [IndexType.HNSW, IndexType.IVFPQ])
def test_approximate_indexes_build_and_search(
    dense_index: Path, tmp_path: Path, kind: IndexType
) -> None:
    cfg = IndexConfig(type=kind, nlist=2, pq_m=4, pq_bits=4, nprobe=2)
    out = build_dense_index(tmp_path / "emb", tmp_path / f"idx-{kind}", cfg)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["faiss"]["type"] == str(kind) and meta["encoder"]["pooling"] == "mean"
    hits = DenseRetriever.load(out).search(["warsaw river"], k=3)[0]
    assert len(hits) == 3 and hits[0].score >= hits[-1].score


def test_index_refuses_mismatched_passages(
    dense_index: Path, kilt_dir: Path, tmp_path: Path
) -> None:
    from uniret.corpus.chunking import ChunkConfig
    from uniret.corpus.store import build_passage_store

    build_passage_store(kilt_dir / "knowledge.jsonl", tmp_path / "other", ChunkConfig(words=3))
    with pytest.raises(ArtifactError, match="corpus"):
        build_dense_index(tmp_path / "emb", tmp_path / "bad", passages=tmp_path / "other")
    with pytest.raises(ArtifactError, match="corpus hash"):
        DenseRetriever.load(dense_index, passages=tmp_path / "other")


def test_a_model_given_by_relative_path_opens_from_anywhere(
    tiny_model: str, store: PassageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    model = BiEncoder.from_pretrained(tiny_model, pooling="mean", normalize=True)
    model.save(work / "model")
    monkeypatch.chdir(work)
    encode_shard(model, "model", store, Path("emb"), config=EncodeConfig(batch_size=4))
    build_dense_index("emb", "dense")
    expected = DenseRetriever.load("dense").search(["warsaw river"], k=3)[0]
    assert json.loads(Path("dense/meta.json").read_text())["encoder"]["model"] == "model"

    monkeypatch.chdir(tmp_path)  # another working directory: found by its absolute path
    assert DenseRetriever.load(work / "dense").search(["warsaw river"], k=3)[0] == expected
    moved = tmp_path / "moved"  # the folder moved as one: found relative to the index
    shutil.copytree(work, moved)
    shutil.rmtree(work)
    assert DenseRetriever.load(moved / "dense").search(["warsaw river"], k=3)[0] == expected
    shutil.rmtree(moved / "model")  # gone: the error names the folder it was written from
    with pytest.raises(ModelError, match=f"{work / 'model'}'.*no such folder"):
        DenseRetriever.load(moved / "dense")


def test_query_model_with_wrong_dimension_is_refused(
    dense_index: Path, tmp_path: Path, tiny_model: str
) -> None:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path / "wide"
    BertModel(
        BertConfig(
            vocab_size=10,
            hidden_size=48,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=8,
        )
    ).save_pretrained(str(folder))
    BertTokenizerFast.from_pretrained(tiny_model).save_pretrained(str(folder))
    with pytest.raises(ArtifactError, match="48-d"):
        DenseRetriever.load(dense_index, model=str(folder))


def test_fusion_formulas() -> None:
    a = [Hit(1, 9.0), Hit(2, 5.0)]  # retriever A: 1 then 2
    b = [Hit(3, 0.9), Hit(1, 0.8)]  # retriever B: 3 then 1
    assert FusionConfig().method is Fusion.WEIGHTED  # the default
    equal = fuse([a, b], FusionConfig())
    # min-max: A gives 1 -> 1, 2 -> 0; B gives 3 -> 1, 1 -> 0; ties broken by passage id
    assert [(h.passage_id, h.score) for h in equal] == [(1, 1.0), (3, 1.0), (2, 0.0)]
    fused = fuse([a, b], FusionConfig(method=Fusion.RRF, rrf_c=60))
    assert [h.passage_id for h in fused] == [1, 3, 2]  # 1: 1/61 + 1/62; 3: 1/61; 2: 1/62
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    weighted = fuse([a, b], FusionConfig(method=Fusion.WEIGHTED, weights=(1.0, 3.0)))
    # weights 1 and 3
    assert [(h.passage_id, h.score) for h in weighted] == [(3, 3.0), (1, 1.0), (2, 0.0)]


def test_rrf_hybrid_ranks_a_page_only_one_retriever_found(
    dense_index: Path, store: PassageStore, tmp_path: Path
) -> None:
    bm25_dir = build_bm25_index(store, tmp_path / "bm25")
    hybrid = load_retriever([bm25_dir, dense_index], fusion=FusionConfig(method=Fusion.RRF))
    assert isinstance(hybrid, HybridRetriever)
    query = "polar bears sea ice"
    bm25_hits = hybrid.retrievers[0].search([query], 2)[0]
    dense_hits = hybrid.retrievers[1].search([query], 2)[0]
    only_one = {h.passage_id for h in bm25_hits} ^ {h.passage_id for h in dense_hits}
    assert only_one, "the two retrievers should disagree on this query"
    fused = {h.passage_id for h in hybrid.search([query], 4)[0]}
    assert only_one <= fused


def test_hybrid_refuses_different_corpora(
    dense_index: Path, kilt_dir: Path, tmp_path: Path
) -> None:
    from uniret.corpus.chunking import ChunkConfig
    from uniret.corpus.store import build_passage_store
    from uniret.retrieval.sparse import BM25Retriever

    build_passage_store(kilt_dir / "knowledge.jsonl", tmp_path / "other", ChunkConfig(words=5))
    bm25 = BM25Retriever.load(build_bm25_index(PassageStore(tmp_path / "other"), tmp_path / "b2"))
    with pytest.raises(ArtifactError, match="different corpora"):
        HybridRetriever([bm25, DenseRetriever.load(dense_index)])


def test_cli_encode_index_retrieve_hybrid(tiny_model: str, kilt_dir: Path, tmp_path: Path) -> None:
    p, emb, dense, bm25 = (tmp_path / x for x in ("p", "emb", "dense", "bm25"))
    cli_corpus_and_bm25(kilt_dir, p, bm25)
    assert (
        main(
            [
                "-q",
                "encode",
                "--model",
                tiny_model,
                "--passages",
                str(p),
                "--out",
                str(emb),
                "--batch-size",
                "2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert main(["-q", "index", "dense", "--embeddings", str(emb), "--out", str(dense)]) == 0
    task = str(kilt_dir / "trex-dev-kilt.jsonl")
    for name, extra in (
        ("d", ["--index", str(dense)]),
        ("h", ["--index", str(bm25), "--index", str(dense)]),
    ):
        assert (
            main(
                [
                    "-q",
                    "retrieve",
                    *extra,
                    "--input",
                    task,
                    "--k",
                    "3",
                    "--out",
                    str(tmp_path / name),
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
        record = json.loads((tmp_path / name / "trex-dev-kilt.jsonl").read_text().splitlines()[0])
        assert len(record["output"][0]["provenance"]) == 3
    # the hybrid fused by the default method, recorded beside the predictions
    meta = json.loads((tmp_path / "h" / PREDICTIONS_META).read_text())
    assert meta["retriever"]["fusion"] == "weighted"
    assert (
        main(
            [
                "-q",
                "evaluate",
                "--gold",
                task,
                "--pred",
                str(tmp_path / "h" / "trex-dev-kilt.jsonl"),
            ]
        )
        == 0
    )


def test_cli_mine_with_a_dense_model(dense_index: Path, kilt_dir: Path, tmp_path: Path) -> None:
    from uniret.training.data import load_examples

    out = tmp_path / "mined"
    task = str(kilt_dir / "hotpotqa-dev-kilt.jsonl")
    args = ["-q", "mine", "--index", str(dense_index), "--input", task, "--out", str(out)]
    assert main([*args, "--count", "3", "--device", "cpu"]) == 0
    mined = load_examples(out / "train-examples.jsonl")
    assert len(mined) == 1 and 0 < len(mined[0].negatives) <= 3
    store = PassageStore(json.loads((dense_index / "meta.json").read_text())["passages"]["path"])
    gold_pages = {store.get(p).wikipedia_id for p in mined[0].positives}
    assert all(store.get(n).wikipedia_id not in gold_pages for n in mined[0].negatives)


def test_score_gives_the_inner_products_search_ranks_by(
    dense_index: Path, store: PassageStore
) -> None:
    retriever = DenseRetriever.load(dense_index)
    query = "marie curie [SEP] place of birth"
    hits = retriever.search([query], k=len(store), task="trex")[0]
    ids = [h.passage_id for h in reversed(hits)]  # any order: here worst first
    (scores,) = retriever.score([query], [ids], task="trex")
    np.testing.assert_allclose(scores, [h.score for h in reversed(hits)], rtol=1e-4, atol=1e-5)
    # without a vector lookup the passages come back from the flat index: the same scores
    bare = DenseRetriever(retriever.index, retriever.model, retriever.store)
    np.testing.assert_allclose(bare.score([query], [ids], task="trex")[0], scores, atol=1e-6)
    empty, two = retriever.score([query, query], [[], ids[:2]], task="trex")
    assert empty.shape == (0,) and two.shape == (2,)
    assert retriever.score([], []) == []


def test_mining_margin_skips_passages_scored_near_the_gold(
    dense_index: Path, kilt_dir: Path, tmp_path: Path
) -> None:
    from uniret.training.data import MiningConfig, build_examples, load_examples, mine_negatives

    retriever = DenseRetriever.load(dense_index)
    files = [kilt_dir / f"{t}-dev-kilt.jsonl" for t in ("hotpotqa", "trex")]
    examples = build_examples(files, retriever.store)
    wide = MiningConfig(count=50, skip_answer=False)
    plain = mine_negatives(examples, retriever, wide)
    dropped = 0
    for margin in (0.0, 0.05):
        config = dataclasses.replace(wide, margin=margin)
        for ex, kept in zip(plain, mine_negatives(examples, retriever, config), strict=True):
            scored = {h.passage_id: h.score for h in retriever.search([ex.query], 50, ex.task)[0]}
            gold = retriever.score([ex.query], [ex.positives], task=ex.task)[0].max()
            expected = tuple(n for n in ex.negatives if scored[n] <= gold - margin)
            assert kept.negatives == expected
            dropped += len(ex.negatives) - len(expected)
    assert dropped > 0  # the random model ranks some confounders above the gold
    # no inner product of unit vectors lies 2 below another: a margin of 2 keeps none
    far = mine_negatives(examples, retriever, dataclasses.replace(wide, margin=2.0))
    assert all(not ex.negatives for ex in far)
    # the CLI's --margin mines the same and records it
    out = tmp_path / "mined"
    args = ["-q", "mine", "--index", str(dense_index), "--input", *map(str, files)]
    assert main([*args, "--out", str(out), "--margin", "2", "--keep-answer", "--depth", "50"]) == 0
    assert load_examples(out / "train-examples.jsonl") == far
    assert json.loads((out / "meta.json").read_text())["mining"]["margin"] == 2.0
    assert main([*args, "--out", str(tmp_path / "neg"), "--margin", "-0.1"]) == 2
    assert not (tmp_path / "neg").exists()


def test_bundle_round_trip_opens_the_same_hybrid(tmp_path: Path, kilt_dir: Path) -> None:
    from uniret.retrieval.bundle import RetrieverBundle

    cli_corpus_and_bm25(kilt_dir, tmp_path / "work" / "passages", tmp_path / "work" / "bm25")
    bm25 = str(tmp_path / "work" / "bm25")
    fusion = FusionConfig(method=Fusion.WEIGHTED, weights=(0.3, 0.7), depth=7)
    bundle = RetrieverBundle("twice", (bm25, bm25), fusion=fusion)
    path = bundle.save(tmp_path / "work" / "retrievers" / "twice.json")
    saved = json.loads(path.read_text())
    assert saved["indexes"] == ["../bm25", "../bm25"]  # relative: the folder moves as one
    moved = tmp_path / "moved"
    (tmp_path / "work").rename(moved)
    loaded = RetrieverBundle.load(moved / "retrievers" / "twice.json")
    assert loaded.fusion == fusion and loaded.name == "twice"
    assert [Path(i).resolve() for i in loaded.indexes] == [(moved / "bm25").resolve()] * 2
    direct = load_retriever([moved / "bm25", moved / "bm25"], fusion=fusion)
    via = load_retriever(moved / "retrievers" / "twice.json")
    query = ["Marie Curie place of birth"]
    assert via.search(query, 3) == direct.search(query, 3)


def test_frozen_vectors_come_from_the_embeddings_not_a_lossy_index(
    dense_index: Path, tmp_path: Path
) -> None:
    from uniret.index.dense import DenseIndex
    from uniret.index.encode import load_embeddings

    exact = load_embeddings(tmp_path / "emb").vectors
    cfg = IndexConfig(type=IndexType.IVFPQ, nlist=2, pq_m=4, pq_bits=4, nprobe=2)
    ivfpq = DenseIndex.open(build_dense_index(tmp_path / "emb", tmp_path / "pq", cfg))
    assert not np.allclose(ivfpq.faiss.reconstruct_n(0, len(exact)), exact)  # PQ is lossy
    np.testing.assert_array_equal(ivfpq.vectors(), exact)  # read from the embeddings
    flat = DenseIndex.open(dense_index)
    shutil.rmtree(tmp_path / "emb")  # gone: an exact index reconstructs, a PQ one refuses
    np.testing.assert_array_equal(flat.vectors(), exact)
    with pytest.raises(ArtifactError, match="ivfpq index holds only compressed codes"):
        ivfpq.vectors()


def test_each_retriever_formats_raw_task_inputs_itself(
    dense_index: Path, tmp_path: Path, kilt_dir: Path, tiny_model: str
) -> None:
    from uniret.models.biencoder import BiEncoderConfig, QueryMode
    from uniret.retrieval.sparse import BM25Retriever

    cli_corpus_and_bm25(kilt_dir, tmp_path / "p", tmp_path / "bm25")
    bm25 = BM25Retriever.load(tmp_path / "bm25")
    raw = "Marie Curie [SEP] place of birth"  # BM25 drops [SEP] for slot filling
    assert bm25.search([raw], 5, task="trex") == bm25.search(["Marie Curie place of birth"], 5)
    # per-task query towers: each task's queries get its own tower's separator
    base = BiEncoder.from_pretrained(tiny_model)
    model = BiEncoder(
        base.passage_encoder, BiEncoderConfig(mode=QueryMode.PER_TASK, tasks=("trex", "grec"))
    )
    model.query_encoder("grec").tokenizer.sep_token = "[MASK]"
    assert model.format_queries([raw], "trex") == ["Marie Curie [SEP] place of birth"]
    assert model.format_queries([raw], "grec") == ["Marie Curie [MASK] place of birth"]
    with pytest.raises(ArtifactError, match="no query encoder for task None"):
        model.format_queries(["free text"])  # a per-task model needs the task
    dense = DenseRetriever.load(dense_index)
    assert dense.model.format_queries(["  free   text "]) == ["free text"]
    np.testing.assert_allclose(
        dense.model.embed_inputs([raw], "trex"), dense.model.embed_queries([raw])
    )
