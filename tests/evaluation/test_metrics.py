"""KILT metrics on hand-built cases; each gold/prediction line says what it models."""

from __future__ import annotations

import pytest

from uniret.evaluation import metrics as m
from uniret.evaluation.evaluate import EvalConfig, example_metrics


def _gold(*sets: list[str], answer: str = "", title: str = "") -> dict:
    return {
        "id": "q",
        "input": "query",
        "output": [
            {"answer": answer, "provenance": [{"wikipedia_id": w, "title": title} for w in s]}
            for s in sets
        ],
    }


def _pred(*ids: str, texts: list[str] | None = None) -> list[dict]:
    texts = texts or [""] * len(ids)
    return [{"wikipedia_id": w, "text": t} for w, t in zip(ids, texts, strict=True)]


def test_design_worked_example() -> None:
    # gold sets {1,2}, {5}, {7,9,11}; prediction [2,5,7,33,1,9,44,88] (worked example)
    gold = _gold(["1", "2"], ["5"], ["7", "9", "11"])
    pred = _pred("2", "5", "7", "33", "1", "9", "44", "88")
    out = example_metrics(gold, pred, EvalConfig(ks=(1, 5)))
    assert out["Rprec"] == pytest.approx(0.5)
    assert out["precision@1"] == 1.0
    assert out["precision@5"] == pytest.approx(0.4)
    assert out["recall@5"] == pytest.approx(2 / 3)
    assert out["success_rate@5"] == 1.0


def test_rank_list_of_worked_example() -> None:
    guess = ["2", "5", "7", "33", "1", "9", "44", "88"]
    rank, n = m.rank_list(guess, [["1", "2"], ["5"], ["7", "9", "11"]])
    # 2: partial {1,2}; 5: hit; 7: partial {7,9,11}; 33: miss; 1: completes {1,2} (partial
    # marker removed); 9: moves the {7,9,11} marker to the end; 44, 88: misses.
    assert rank == [True, False, True, "evidence_set:2", False, False]
    assert n == 3


def test_duplicate_predicted_pages_collapse_to_first_occurrence() -> None:
    gold = _gold(["A"])  # one evidence set: page A
    pred = _pred("B", "B", "B", "A")  # three passages of B, then A: page ranking is [B, A]
    out = example_metrics(gold, pred, EvalConfig(ks=(1, 2)))
    assert out["precision@1"] == 0.0
    assert out["success_rate@2"] == 1.0  # A is the 2nd *page*, though the 4th passage
    assert out["precision@2"] == 0.5
    assert out["Rprec"] == 0.0  # R = 1: only the first page counts


def test_multi_page_evidence_set_needs_all_pages() -> None:
    gold = _gold(["A", "B"])  # one set of two pages (multi-hop)
    only_a = example_metrics(gold, _pred("A", "C", "D"), EvalConfig(ks=(1, 3)))
    assert only_a["success_rate@3"] == 0.0  # B never retrieved: the set is not complete
    assert only_a["Rprec"] == 0.5  # 1 of R=2 in the top 2
    both = example_metrics(gold, _pred("A", "C", "B"), EvalConfig(ks=(1, 3)))
    # rank = [False(C), True(set complete at B)] -> hit at position 2
    assert both["success_rate@3"] == 1.0
    assert both["precision@1"] == 0.0
    assert both["recall@3"] == 1.0


def test_example_without_provenance_scores_zero() -> None:
    gold = {"id": "q", "input": "x", "output": [{"answer": "yes"}]}  # no evidence at all
    out = example_metrics(gold, _pred("A"), EvalConfig(ks=(1,)))
    assert out["Rprec"] == 0.0 and out["precision@1"] == 0.0 and out["recall@1"] == 0.0


def test_empty_prediction_scores_zero() -> None:
    out = example_metrics(_gold(["A"]), [], EvalConfig(ks=(1, 5)))
    assert all(v == 0.0 for k, v in out.items() if k != "entity_in_input")


def test_identical_evidence_sets_count_once() -> None:
    gold = _gold(["A"], ["A"], ["B"])  # two identical sets {A} and {B}: 2 distinct
    out = example_metrics(gold, _pred("A", "C"), EvalConfig(ks=(2,)))
    assert out["recall@2"] == 0.5


def test_page_in_two_sets_fills_both() -> None:
    rank, n = m.rank_list(["A"], [["A"], ["A", "B"]])
    assert rank == [True, "evidence_set:1"] and n == 2


def test_passage_level_rank_keys() -> None:
    gold = {
        "id": "q",
        "input": "x",
        "output": [
            {"provenance": [{"wikipedia_id": "A", "start_paragraph_id": 3, "end_paragraph_id": 3}]}
        ],
    }
    pred = [
        {"wikipedia_id": "A", "start_paragraph_id": 1, "end_paragraph_id": 2},  # right page
        {"wikipedia_id": "A", "start_paragraph_id": 3, "end_paragraph_id": 3},  # right passage
    ]
    cfg = EvalConfig(
        ks=(1, 2), rank_keys=("wikipedia_id", "start_paragraph_id", "end_paragraph_id")
    )
    out = example_metrics(gold, pred, cfg)
    assert out["precision@1"] == 0.0 and out["success_rate@2"] == 1.0
    page = example_metrics(gold, pred, EvalConfig(ks=(1,)))
    assert page["precision@1"] == 1.0


def test_answer_in_context_uses_squad_normalisation() -> None:
    gold = _gold(["A"], answer="The Warsaw")
    pred = _pred("B", "A", texts=["nothing here", "She was born in WARSAW, Poland."])
    out = example_metrics(gold, pred, EvalConfig(ks=(1, 2)))
    assert out["answer_in_context@1"] == 0.0
    assert out["answer_in_context@2"] == 1.0


def test_entity_in_input() -> None:
    gold = _gold(["A"], title="Marie Curie")
    gold["input"] = "marie curie [SEP] place of birth"
    assert example_metrics(gold, [], EvalConfig(ks=(1,)))["entity_in_input"] == 1.0
    gold["input"] = "who discovered radium"
    assert example_metrics(gold, [], EvalConfig(ks=(1,)))["entity_in_input"] == 0.0
