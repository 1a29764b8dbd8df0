"""Plain value types shared by every stage of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True)
class Page:
    """A KILT knowledge-source page; ``paragraphs`` is ``text[1:]`` (``text[0]`` is the title)."""

    wikipedia_id: str
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Passage:
    """A ~100-word chunk of one page, covering paragraph ids ``start_paragraph..end_paragraph``."""

    id: int
    wikipedia_id: str
    title: str
    text: str
    start_paragraph: int
    end_paragraph: int


@dataclass(frozen=True)
class Provenance:
    """One piece of KILT evidence: a page and, when known, a paragraph range on it."""

    wikipedia_id: str
    title: str = ""
    start_paragraph_id: int | None = None
    end_paragraph_id: int | None = None


@dataclass(frozen=True)
class Output:
    """One KILT output: an answer and its evidence set."""

    answer: str = ""
    provenance: tuple[Provenance, ...] = ()


@dataclass(frozen=True)
class Example:
    """One KILT task example; each element of ``outputs`` is one evidence set."""

    id: str
    input: str
    outputs: tuple[Output, ...] = ()
    meta: dict[str, object] = field(default_factory=dict, hash=False, compare=False)

    @property
    def answers(self) -> list[str]:
        """Non-empty gold answers, de-duplicated, in file order."""
        return list(dict.fromkeys(o.answer.strip() for o in self.outputs if o.answer.strip()))


class Hit(NamedTuple):
    """A retrieved passage with its score (higher is better).

    A named tuple, not a dataclass: retrieval makes ~100 per query, and tuples are several
    times cheaper to create.
    """

    passage_id: int
    score: float
