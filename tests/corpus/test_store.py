from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PAGES
from uniret.corpus.chunking import ChunkConfig
from uniret.corpus.store import PassageStore, build_passage_store
from uniret.errors import InputError


def test_store_random_access_and_page_map(store: PassageStore) -> None:
    assert store.meta["pages"] == len(PAGES)
    assert store.meta["pages_without_text"] == 1  # "Empty page"
    assert len(store) == store.meta["passages"]
    # every passage id maps back to its row and never mixes two pages
    for pid in range(len(store)):
        p = store.get(pid)
        assert p.id == pid
        source = next(x for x in PAGES if x["wikipedia_id"] == p.wikipedia_id)
        assert p.title == source["wikipedia_title"]
        covered = " ".join(source["text"][p.start_paragraph : p.end_paragraph + 1])
        assert all(word in covered.split() for word in p.text.split())
    curie = store.passages_of_page("10")
    assert len(curie) > 1 and [p.id for p in curie] == list(range(curie[0].id, curie[-1].id + 1))
    assert store.passages_of_page("nope") == []
    assert store.texts(0, 1, with_title=". ")[0].startswith("Marie Curie. Marie Curie was")


def test_same_input_same_corpus_hash(kilt_dir: Path, tmp_path: Path, store: PassageStore) -> None:
    again = build_passage_store(kilt_dir / "knowledge.jsonl", tmp_path / "p2", ChunkConfig(words=8))
    assert again["corpus_hash"] == store.corpus_hash
    other = build_passage_store(kilt_dir / "knowledge.jsonl", tmp_path / "p3", ChunkConfig(words=9))
    assert other["corpus_hash"] != store.corpus_hash


def test_bad_line_names_file_line_field_and_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "k.jsonl"
    lines = [json.dumps(PAGES[0]), json.dumps({"wikipedia_id": "2", "text": "not a list"})]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        build_passage_store(src, out)
    assert (err.value.line, err.value.field) == (2, "text")
    assert "k.jsonl, line 2" in str(err.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary leftovers either


def test_skip_invalid_counts_bad_lines(tmp_path: Path) -> None:
    src = tmp_path / "k.jsonl"
    src.write_text(json.dumps(PAGES[1]) + "\n{broken json\n" + json.dumps({"text": ["x"]}) + "\n")
    meta = build_passage_store(src, tmp_path / "out", skip_invalid=True)
    assert meta["pages"] == 1 and meta["skipped_lines"] == 2


def test_get_many_across_record_batches_keeps_the_order_asked(
    kilt_dir: Path, tmp_path: Path
) -> None:
    build_passage_store(
        kilt_dir / "knowledge.jsonl", tmp_path / "small", ChunkConfig(words=5), batch_rows=3
    )
    store = PassageStore(tmp_path / "small")
    assert store.table.column("id").num_chunks > 3  # ids spread over many record batches
    ids = [len(store) - 1, 0, 4, 4, 7, 1, len(store) - 1]
    got = store.get_many(ids)
    assert [p.id for p in got] == ids
    rows = store.table.to_pydict()
    assert [p.text for p in got] == [rows["text"][i] for i in ids]
    assert store.get_many([]) == []
    with pytest.raises(IndexError):
        store.get_many([len(store)])
