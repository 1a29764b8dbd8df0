from __future__ import annotations

import pytest

from uniret.corpus.chunking import ChunkConfig, chunk_page
from uniret.types import Page


def _page(*paragraphs: str) -> Page:
    return Page("1", "T", tuple(paragraphs))


def test_chunks_cut_every_n_words_and_record_paragraph_range() -> None:
    # paragraph 1: words a0..a4 (5), paragraph 2: b0..b6 (7), paragraph 3: c0..c2 (3)
    page = _page(
        " ".join(f"a{i}" for i in range(5)),
        " ".join(f"b{i}" for i in range(7)),
        " ".join(f"c{i}" for i in range(3)),
    )
    chunks = chunk_page(page, ChunkConfig(words=6))
    assert [c.text for c in chunks] == [
        "a0 a1 a2 a3 a4 b0",
        "b1 b2 b3 b4 b5 b6",
        "c0 c1 c2",
    ]
    assert [(c.start_paragraph, c.end_paragraph) for c in chunks] == [(1, 2), (2, 2), (3, 3)]


def test_short_tail_merged_when_asked() -> None:
    page = _page(" ".join(str(i) for i in range(13)))
    assert len(chunk_page(page, ChunkConfig(words=6))) == 3
    merged = chunk_page(page, ChunkConfig(words=6, min_words=2))
    assert [len(c.text.split()) for c in merged] == [6, 7]


def test_page_without_words_gives_no_chunks() -> None:
    assert chunk_page(_page(), ChunkConfig()) == []
    assert chunk_page(_page("   ", ""), ChunkConfig()) == []


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError):
        ChunkConfig(words=0)
    with pytest.raises(ValueError):
        ChunkConfig(words=10, min_words=11)
