from __future__ import annotations

from uniret.corpus.store import PassageStore
from uniret.tasks.positives import contains_answer, gold_passages, normalize_answer
from uniret.types import Example, Output, Provenance


def test_paragraph_range_maps_to_overlapping_passages(store: PassageStore) -> None:
    ex = Example("q", "x", (Output("Warsaw", (Provenance("10", "Marie Curie", 2, 2),)),))
    gold = gold_passages(ex, store)
    assert gold and all(p.wikipedia_id == "10" for p in gold)
    assert all(p.start_paragraph <= 2 <= p.end_paragraph for p in gold)
    assert any("Warsaw" in p.text for p in gold)


def test_page_only_provenance_prefers_passages_with_answer(store: PassageStore) -> None:
    ex = Example("q", "x", (Output("Nobel Prize", (Provenance("10"),)),))
    gold = gold_passages(ex, store)
    assert gold and all("Nobel" in p.text for p in gold)
    no_answer = Example("q", "x", (Output("", (Provenance("10"),)),))
    assert gold_passages(no_answer, store) == store.passages_of_page("10")[:1]


def test_unknown_page_gives_nothing(store: PassageStore) -> None:
    assert gold_passages(Example("q", "x", (Output("", (Provenance("999"),)),)), store) == []


def test_normalisation() -> None:
    assert normalize_answer("The  Warsaw, Poland!") == "warsaw poland"
    assert contains_answer("born in WARSAW.", ["the Warsaw"])
    assert not contains_answer("Warsawian", ["Warsaw"])
