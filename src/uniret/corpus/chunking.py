"""Cut pages into ~100-word passages that never cross a page boundary."""

from __future__ import annotations

from dataclasses import dataclass

from uniret.types import Page


@dataclass(frozen=True)
class ChunkConfig:
    """How pages become passages.

    ``words``: passage length in whitespace words (DPR/KILT use 100).
    ``min_words``: a trailing chunk shorter than this is merged into the previous one
    (0 keeps every chunk, as DPR does).
    """

    words: int = 100
    min_words: int = 0

    def __post_init__(self) -> None:
        if self.words < 1:
            raise ValueError(f"words must be >= 1, got {self.words}")
        if not 0 <= self.min_words <= self.words:
            raise ValueError(f"min_words must be in [0, words], got {self.min_words}")


@dataclass(frozen=True)
class Chunk:
    """One passage before it gets its global id."""

    text: str
    start_paragraph: int
    end_paragraph: int


def chunk_page(page: Page, config: ChunkConfig = ChunkConfig()) -> list[Chunk]:
    """Join the page's paragraphs (``text[1:]``) and cut the words every ``config.words``.

    Paragraph ids are KILT's: ``1`` is the first paragraph after the title. A chunk records the
    paragraph of its first word and of its last word.
    """
    words: list[str] = []
    paragraph_of: list[int] = []
    for offset, paragraph in enumerate(page.paragraphs, start=1):
        tokens = paragraph.split()
        words.extend(tokens)
        paragraph_of.extend([offset] * len(tokens))
    bounds = list(range(0, len(words), config.words))
    spans = [(start, min(start + config.words, len(words))) for start in bounds]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < config.min_words:
        last = spans.pop()
        spans[-1] = (spans[-1][0], last[1])
    return [Chunk(" ".join(words[a:b]), paragraph_of[a], paragraph_of[b - 1]) for a, b in spans]
