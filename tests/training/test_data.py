"""Training examples and hard-negative mining over a real BM25 index of the fixture corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli_corpus_and_bm25, write_jsonl
from uniret.cli import main
from uniret.retrieval.sparse import BM25Retriever
from uniret.training.data import (
    MiningConfig,
    build_examples,
    load_examples,
    mine_negatives,
    mining_query,
)


def test_mining_query_is_the_subject_of_a_slot_filling_query_only_when_asked() -> None:
    subject = MiningConfig(subject_only=True)
    assert mining_query("Marie Curie [SEP] place of birth", subject) == "Marie Curie"
    assert mining_query("Marie Curie [SEP] place of birth", MiningConfig()) == (
        "Marie Curie [SEP] place of birth"
    )
    assert mining_query("Which river flows through Warsaw?", subject) == (
        "Which river flows through Warsaw?"
    )
    assert mining_query(" [SEP] place of birth", subject) == " [SEP] place of birth"


NAMESAKES = [
    {"wikipedia_id": "1", "wikipedia_title": "Marie Curie",
     "text": ["Marie Curie", "Marie Curie was a physicist, born in Warsaw."]},
    {"wikipedia_id": "2", "wikipedia_title": "Pierre Curie",
     "text": ["Pierre Curie", "Pierre Curie was a French physicist."]},
    {"wikipedia_id": "3", "wikipedia_title": "A Prisoner of Birth",
     "text": ["A Prisoner of Birth", "A novel; its place of birth is a prison."]},
    {"wikipedia_id": "4", "wikipedia_title": "",
     "text": ["", "Eve Curie wrote a biography of her mother Marie Curie."]},
]  # fmt: skip
QUERY = {
    "id": "q1",
    "input": "Marie Curie [SEP] place of birth",
    "output": [{"answer": "Warsaw", "provenance": [{"wikipedia_id": "1", "title": "Marie Curie"}]}],
}


def test_subject_only_mining_ranks_by_the_subject(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "knowledge.jsonl", NAMESAKES)
    trex = write_jsonl(tmp_path / "trex-train-kilt.jsonl", [QUERY])
    cli_corpus_and_bm25(tmp_path, tmp_path / "passages", tmp_path / "bm25")
    bm25 = BM25Retriever.load(tmp_path / "bm25")
    titles = [p.title for p in bm25.store.get_many(range(len(bm25.store)))]
    examples = build_examples([trex], bm25.store)
    (whole,) = mine_negatives(examples, bm25, MiningConfig())
    (subject,) = mine_negatives(examples, bm25, MiningConfig(subject_only=True))
    # the whole query draws the page matching the relation's words first; its subject, the
    # namesake and the sentence about the subject's family (the gold page is never a negative)
    assert titles[whole.negatives[0]] == "A Prisoner of Birth"
    assert {titles[n] for n in subject.negatives} == {"Pierre Curie", ""}
    # the CLI's --subject mines the same
    out = tmp_path / "mined"
    args = ["-q", "mine", "--index", str(tmp_path / "bm25"), "--input", str(trex)]
    assert main([*args, "--out", str(out), "--subject"]) == 0
    assert load_examples(out / "train-examples.jsonl") == [subject]


def test_a_mining_margin_needs_a_retriever_that_scores_the_gold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "knowledge.jsonl", NAMESAKES)
    trex = write_jsonl(tmp_path / "trex-train-kilt.jsonl", [QUERY])
    cli_corpus_and_bm25(tmp_path, tmp_path / "passages", tmp_path / "bm25")
    bm25 = BM25Retriever.load(tmp_path / "bm25")
    examples = build_examples([trex], bm25.store)
    with pytest.raises(ValueError, match="scores given passages"):
        mine_negatives(examples, bm25, MiningConfig(margin=0.0))
    with pytest.raises(ValueError, match="margin must be >= 0"):
        MiningConfig(margin=-0.5)
    args = ["mine", "--index", str(tmp_path / "bm25"), "--input", str(trex), "--margin", "0"]
    assert main([*args, "--out", str(tmp_path / "mined")]) == 2
    assert "--margin: needs one dense index" in capsys.readouterr().err
    assert not (tmp_path / "mined").exists()
