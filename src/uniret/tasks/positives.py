"""Map KILT provenance to gold passages: the passages overlapping a provenance paragraph
range; for page-only provenance, the page's passages containing an answer, else its first."""

from __future__ import annotations

import re
import string

from uniret.corpus.store import PassageStore
from uniret.types import Example, Passage

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, squeeze whitespace."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def contains_answer(text: str, answers: list[str]) -> bool:
    """Whether a SQuAD-normalised answer occurs in the SQuAD-normalised ``text``."""
    norm = f" {normalize_answer(text)} "
    return any(a and f" {a} " in norm for a in (normalize_answer(x) for x in answers))


def gold_passages(example: Example, store: PassageStore) -> list[Passage]:
    """Passages that hold the example's evidence, de-duplicated, in provenance order.

    A provenance with a paragraph range gives the page's passages overlapping that range;
    a page-only provenance gives the page's passages that contain a gold answer, else its
    first passage. Pages missing from the store give nothing.
    """
    found: dict[int, Passage] = {}
    answers = example.answers
    for output in example.outputs:
        for prov in output.provenance:
            page = store.passages_of_page(prov.wikipedia_id)
            if not page:
                continue
            if prov.start_paragraph_id is not None:
                start = prov.start_paragraph_id
                end = prov.end_paragraph_id if prov.end_paragraph_id is not None else start
                hits = [p for p in page if p.start_paragraph <= end and p.end_paragraph >= start]
                hits = hits or page[:1]  # e.g. paragraph 0, the title
            else:
                hits = [p for p in page if answers and contains_answer(p.text, answers)]
                hits = hits or page[:1]
            for passage in hits:
                found.setdefault(passage.id, passage)
    return list(found.values())
