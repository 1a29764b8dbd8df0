"""KILT retrieval metrics for one example, exactly as the official KILT evaluator computes them.

Vocabulary: ``guess`` is the predicted id list taken from ``output[0].provenance`` (an id is the
provenance's rank keys joined by "+"), de-duplicated keeping the first occurrence — so a passage
ranking becomes a page ranking. ``gold`` is one list per gold output: each is an *evidence set*.
"""

from __future__ import annotations

from collections.abc import Sequence

from uniret.tasks.positives import normalize_answer

RankItem = bool | str


def dedupe(ids: Sequence[str]) -> list[str]:
    """Remove repeated ids, keeping the first occurrence."""
    return list(dict.fromkeys(ids))


def r_precision(guess: Sequence[str], gold: Sequence[Sequence[str]]) -> float:
    """R-precision, best evidence set: ``max_s |{top-R(guess)} ∩ s| / R`` with ``R = |s|``.

    An empty evidence set scores 0; an example with no gold outputs scores 0.
    """
    best = 0.0
    for evidence in gold:
        ids = set(evidence)
        if not ids:
            continue
        best = max(best, sum(1 for g in guess[: len(ids)] if g in ids) / len(ids))
    return best


def evidence_sets(gold: Sequence[Sequence[str]]) -> list[set[str]]:
    """Distinct evidence sets, in gold order (KILT drops repeated identical sets)."""
    sets: list[set[str]] = []
    for evidence in gold:
        s = set(evidence)
        if s not in sets:
            sets.append(s)
    return sets


def rank_list(guess: Sequence[str], gold: Sequence[Sequence[str]]) -> tuple[list[RankItem], int]:
    """KILT's rank list and the number of distinct evidence sets.

    Walking the predictions, an evidence set counts as one hit (``True``) at the position of its
    last page found; while incomplete it holds a placeholder at its latest page; a page of no
    set is a miss (``False``). No predictions give ``([], 0)``.
    """
    if not guess:
        return [], 0
    sets = [set(s) for s in evidence_sets(gold)]
    rank: list[RankItem] = []
    for guess_id in guess:
        found = False
        for idx, remaining in enumerate(sets):
            if guess_id not in remaining:
                continue
            found = True
            marker = f"evidence_set:{idx}"
            if marker in rank:
                rank.remove(marker)
            remaining.remove(guess_id)
            rank.append(True if not remaining else marker)
        if not found:
            rank.append(False)
    return rank, len(sets)


def precision_at_k(rank: Sequence[RankItem], k: int) -> float:
    """precision@k = (hits among the first k rank items) / k."""
    return list(rank[:k]).count(True) / k


def recall_at_k(rank: Sequence[RankItem], num_sets: int, k: int) -> float:
    """recall@k = (hits among the first k rank items) / (number of distinct evidence sets)."""
    return list(rank[:k]).count(True) / num_sets if num_sets else 0.0


def success_at_k(rank: Sequence[RankItem], k: int) -> float:
    """success@k = 1 if any of the first k rank items is a hit, else 0."""
    return float(True in list(rank[:k]))


def first_answer_rank(texts: Sequence[str], answers: Sequence[str]) -> int | None:
    """0-based position of the first passage text holding a gold answer (SQuAD-normalised,
    substring match), or None.

    answer_in_context@k = 1 if this position is < k, else 0 (computed once for every k).
    """
    normalised = [a for a in (normalize_answer(x) for x in answers) if a]
    if not normalised:
        return None
    for position, text in enumerate(texts):
        norm = normalize_answer(text)
        if any(a in norm for a in normalised):
            return position
    return None


def entity_in_input(query: str, titles: Sequence[str]) -> float:
    """entity_in_input = 1 if a normalised gold page title occurs in the normalised input."""
    norm = normalize_answer(query)
    return float(any(t and normalize_answer(t) and normalize_answer(t) in norm for t in titles))
