"""Columnar, memory-mapped passage store (Arrow IPC) with random access by passage id.

Layout of a store directory::

    passages.arrow   id, wikipedia_id, title, text, start_paragraph, end_paragraph (row i has id i)
    pages.arrow      wikipedia_id, first (row of its first passage), count
    meta.json        counts, chunking config, source file and its sha256, corpus hash, versions
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from uniret import __version__
from uniret.corpus.chunking import ChunkConfig, chunk_page
from uniret.corpus.knowledge import ReadStats, iter_pages
from uniret.errors import ArtifactError, InputError, damaged
from uniret.io import read_json, write_json
from uniret.outputs import Artifact, writing
from uniret.types import Passage

logger = logging.getLogger(__name__)

PASSAGES_FILE = "passages.arrow"
PAGES_FILE = "pages.arrow"
META_FILE = "meta.json"
FORMAT = "uniret.passages/1"

PASSAGE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("wikipedia_id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("start_paragraph", pa.int32()),
        ("end_paragraph", pa.int32()),
    ]
)
PAGE_SCHEMA = pa.schema(
    [("wikipedia_id", pa.string()), ("first", pa.int64()), ("count", pa.int32())]
)


class _BatchWriter:
    """Buffers rows column-wise and flushes fixed-size record batches to an Arrow IPC file."""

    def __init__(self, path: Path, schema: pa.Schema, batch_rows: int) -> None:
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_file(self._sink, schema)
        self._schema = schema
        self._rows = batch_rows
        self._columns: dict[str, list[Any]] = {name: [] for name in schema.names}

    def add(self, *values: Any) -> None:
        for name, value in zip(self._schema.names, values, strict=True):
            self._columns[name].append(value)
        if len(self._columns[self._schema.names[0]]) >= self._rows:
            self.flush()

    def flush(self) -> None:
        if self._columns[self._schema.names[0]]:
            batch = pa.record_batch(
                [
                    pa.array(self._columns[n], type=self._schema.field(n).type)
                    for n in self._schema.names
                ],
                schema=self._schema,
            )
            self._writer.write_batch(batch)
            self._columns = {name: [] for name in self._schema.names}

    def close(self) -> None:
        self.flush()
        self._writer.close()
        self._sink.close()


def corpus_hash(source_sha256: str, config: ChunkConfig) -> str:
    """Identity of a passage corpus: the knowledge file's bytes plus the chunking config."""
    payload = json.dumps({"source": source_sha256, "chunking": asdict(config)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_passage_store(
    knowledge: str | Path,
    out_dir: str | Path,
    config: ChunkConfig = ChunkConfig(),
    *,
    skip_invalid: bool = False,
    overwrite: bool = False,
    batch_rows: int = 8192,
    on_page: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Stream ``knowledge`` into a passage store at ``out_dir``; return its meta.

    Memory stays bounded by ``batch_rows`` whatever the file size. The store appears at
    ``out_dir`` only when complete; an existing store there is replaced only with
    ``overwrite`` (see :mod:`uniret.outputs`). ``on_page(n)`` gets the running page count.
    """
    started = time.perf_counter()
    stats = ReadStats()
    with writing(out_dir, Artifact.PASSAGES, overwrite=overwrite) as tmp:
        tmp.mkdir(parents=True)
        passages = _BatchWriter(tmp / PASSAGES_FILE, PASSAGE_SCHEMA, batch_rows)
        pages = _BatchWriter(tmp / PAGES_FILE, PAGE_SCHEMA, batch_rows)
        next_id = 0
        empty_pages = 0
        try:
            for page in iter_pages(knowledge, skip_invalid=skip_invalid, stats=stats):
                chunks = chunk_page(page, config)
                if not chunks:
                    empty_pages += 1
                pages.add(page.wikipedia_id, next_id, len(chunks))
                for chunk in chunks:
                    passages.add(
                        next_id,
                        page.wikipedia_id,
                        page.title,
                        chunk.text,
                        chunk.start_paragraph,
                        chunk.end_paragraph,
                    )
                    next_id += 1
                if on_page is not None:
                    on_page(stats.pages)
        finally:
            passages.close()
            pages.close()
        if not stats.pages:
            raise InputError(knowledge, None, None, "no pages: the knowledge source is empty")
        meta = {
            "format": FORMAT,
            "passages": next_id,
            "pages": stats.pages,
            "pages_without_text": empty_pages,
            "skipped_lines": stats.skipped,
            "chunking": asdict(config),
            "source": str(Path(knowledge).resolve()),
            "source_bytes": stats.bytes_read,
            "source_sha256": stats.sha256,
            "corpus_hash": corpus_hash(stats.sha256, config),
            "seconds": round(time.perf_counter() - started, 2),
            "versions": {
                "uniret": __version__,
                "pyarrow": pa.__version__,
                "python": platform.python_version(),
            },
        }
        write_json(tmp / META_FILE, meta)
    logger.info("wrote %d passages from %d pages to %s", next_id, stats.pages, out_dir)
    return meta


class PassageStore:
    """Read-only view of a passage store; the Arrow file is memory-mapped, not loaded."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        meta_path = self.directory / META_FILE
        if not meta_path.is_file():
            raise ArtifactError(
                f"{self.directory} is not a passage store (no {META_FILE}); "
                "build one with `uniret corpus build`"
            )
        with damaged(
            f"passage store {self.directory}", "rebuild it with `uniret corpus build --overwrite`"
        ):
            self.meta: dict[str, Any] = read_json(meta_path)
            if not isinstance(self.meta, dict) or self.meta.get("format") != FORMAT:
                raise ArtifactError(f"{META_FILE}: not a passage-store meta.json")
            source = pa.memory_map(str(self.directory / PASSAGES_FILE), "r")
            self.table: pa.Table = pa.ipc.open_file(source).read_all()
            pages_source = pa.memory_map(str(self.directory / PAGES_FILE), "r")
            self._pages: pa.Table = pa.ipc.open_file(pages_source).read_all()
            rows, count = self.table.num_rows, self.meta.get("passages")
            if rows != count:
                raise ArtifactError(f"{PASSAGES_FILE} has {rows} rows, meta.json says {count}")

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def corpus_hash(self) -> str:
        """Identity of this corpus (knowledge file bytes + chunking config)."""
        return str(self.meta["corpus_hash"])

    def get(self, passage_id: int) -> Passage:
        """One passage by id."""
        return self.get_many([passage_id])[0]

    def get_many(self, passage_ids: Sequence[int]) -> list[Passage]:
        """Passages by id, in the order asked.

        Ids are grouped by the record batch that holds them and taken batch by batch: a
        ``take`` over the whole memory-mapped table costs ~1.4 ms whatever the count.
        """
        ids = np.asarray(passage_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"passage id out of range [0, {len(self)})")
        found: list[Passage | None] = [None] * len(ids)
        which = np.searchsorted(self._offsets, ids, side="right") - 1
        for batch in np.unique(which):
            where = np.flatnonzero(which == batch)
            local = pa.array(ids[where] - self._offsets[batch])
            rows = self._batches[batch].take(local).to_pydict()
            for j, position in enumerate(where.tolist()):
                found[position] = Passage(
                    id=rows["id"][j],
                    wikipedia_id=rows["wikipedia_id"][j],
                    title=rows["title"][j],
                    text=rows["text"][j],
                    start_paragraph=rows["start_paragraph"][j],
                    end_paragraph=rows["end_paragraph"][j],
                )
        return found  # type: ignore[return-value]

    @cached_property
    def _batches(self) -> list[pa.RecordBatch]:
        return self.table.to_batches()

    @cached_property
    def _offsets(self) -> np.ndarray:
        """Row id of each record batch's first row (and the total at the end)."""
        return np.cumsum([0] + [b.num_rows for b in self._batches]).astype(np.int64)

    def texts(
        self, start: int = 0, stop: int | None = None, *, with_title: str | None = None
    ) -> list[str]:
        """Passage texts of rows ``start:stop``; with ``with_title`` set, ``title + sep + text``."""
        stop = len(self) if stop is None else stop
        part = self.table.slice(start, stop - start)
        texts = part.column("text").to_pylist()
        if with_title is None:
            return texts
        titles = part.column("title").to_pylist()
        return [f"{t}{with_title}{x}" if t else x for t, x in zip(titles, texts, strict=True)]

    @cached_property
    def page_ranges(self) -> dict[str, tuple[int, int]]:
        """``wikipedia_id -> (first passage id, number of passages)``."""
        ids = self._pages.column("wikipedia_id").to_pylist()
        first = self._pages.column("first").to_pylist()
        count = self._pages.column("count").to_pylist()
        return {w: (f, c) for w, f, c in zip(ids, first, count, strict=True)}

    def passages_of_page(self, wikipedia_id: str) -> list[Passage]:
        """All passages of one page, in page order (empty if the page is unknown)."""
        first, count = self.page_ranges.get(str(wikipedia_id), (0, 0))
        return self.get_many(list(range(first, first + count)))

    @cached_property
    def wikipedia_ids(self) -> np.ndarray:
        """The ``wikipedia_id`` of every passage, as a numpy object array indexed by passage id."""
        return np.asarray(self.table.column("wikipedia_id").to_pylist(), dtype=object)
