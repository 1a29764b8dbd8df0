"""The Retriever protocol: what every retriever (BM25, dense, hybrid) offers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from uniret.corpus.store import PassageStore
from uniret.types import Hit


@runtime_checkable
class Retriever(Protocol):
    """Anything that ranks passages of one passage store for text queries."""

    store: PassageStore

    def search(self, queries: Sequence[str], k: int, task: str | None = None) -> list[list[Hit]]:
        """Top-``k`` hits per query, best first.

        ``queries`` are raw inputs of ``task`` (KILT ``input`` fields) or free text (``task``
        None); each retriever formats them its own way (the task registry's rules with its
        own separator) and, for per-task models, encodes them with that task's encoder.
        """
        ...


@runtime_checkable
class PassageScorer(Protocol):
    """A retriever that also scores given passages of its store (dense: the inner products
    its search ranks by), e.g. a query's gold passages, wherever they rank."""

    def search_scored(
        self,
        queries: Sequence[str],
        k: int,
        passages: Sequence[Sequence[int]],
        task: str | None = None,
    ) -> tuple[list[list[Hit]], list[np.ndarray]]:
        """``search(queries, k, task)`` and, per query, the scores of its ``passages`` (ids,
        in the order given), from one encoding of the queries."""
        ...
