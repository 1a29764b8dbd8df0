"""The Retriever protocol: what every retriever (BM25, dense, hybrid) offers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

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
