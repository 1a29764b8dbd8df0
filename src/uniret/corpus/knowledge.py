"""Stream a KILT knowledge source (one page per JSON line) without loading it whole."""

from __future__ import annotations

import array
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uniret.errors import InputError
from uniret.io import open_binary
from uniret.types import Page

logger = logging.getLogger(__name__)


@dataclass
class ReadStats:
    """Counters filled while a knowledge source is streamed."""

    pages: int = 0
    skipped: int = 0
    bytes_read: int = 0
    sha256: str = ""
    _hash: object = field(default_factory=hashlib.sha256, repr=False)


def parse_page(record: object, path: str | Path, line: int) -> Page:
    """Validate one decoded knowledge-source record and turn it into a Page."""
    if not isinstance(record, dict):
        raise InputError(path, line, None, "expected a JSON object")
    wid = record.get("wikipedia_id", record.get("_id"))
    if wid is None:
        raise InputError(path, line, "wikipedia_id", "missing")
    if not isinstance(wid, str | int) or isinstance(wid, bool):
        raise InputError(path, line, "wikipedia_id", f"expected a string, got {type(wid).__name__}")
    text = record.get("text")
    if text is None:
        raise InputError(path, line, "text", "missing")
    if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
        raise InputError(path, line, "text", "expected a list of strings")
    if not text:
        raise InputError(path, line, "text", "empty list (text[0] must be the title)")
    title = record.get("wikipedia_title", text[0])
    if not isinstance(title, str):
        raise InputError(path, line, "wikipedia_title", "expected a string")
    wid = str(wid).strip()
    if not wid:
        raise InputError(path, line, "wikipedia_id", "blank")
    return Page(wikipedia_id=wid, title=title.strip(), paragraphs=tuple(text[1:]))


def iter_pages(
    path: str | Path, *, skip_invalid: bool = False, stats: ReadStats | None = None
) -> Iterator[Page]:
    """Yield pages one by one, hashing the raw bytes on the way (``stats.sha256`` at the end).

    With ``skip_invalid`` a malformed line is logged and counted in ``stats.skipped``;
    otherwise it raises :class:`InputError` naming file, line and field. A ``wikipedia_id``
    seen twice is always an error, raised once the whole file is read (ids are kept as 8-byte
    hashes, so memory stays small).
    """
    stats = stats if stats is not None else ReadStats()
    digest = stats._hash
    ids = IdTracker()
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            digest.update(raw)  # type: ignore[attr-defined]
            stats.bytes_read += len(raw)
            if not raw.strip():
                continue
            try:
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise InputError(path, number, None, f"invalid JSON ({exc})") from None
                page = parse_page(record, path, number)
            except InputError as exc:
                if not skip_invalid:
                    raise
                stats.skipped += 1
                logger.warning("skipping %s", exc)
                continue
            ids.add(page.wikipedia_id, number)
            stats.pages += 1
            yield page
    stats.sha256 = digest.hexdigest()  # type: ignore[attr-defined]
    duplicate = ids.first_duplicate()
    if duplicate is not None:
        first, second = duplicate
        raise InputError(
            path,
            second,
            "wikipedia_id",
            f"duplicate id (first on line {first}); ids must be unique",
        )


class IdTracker:
    """Remembers ids as 64-bit hashes with their line numbers and finds a repeated one."""

    def __init__(self) -> None:
        self._hashes = array.array("Q")
        self._lines = array.array("Q")

    def add(self, key: str, line: int) -> None:
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
        self._hashes.append(int.from_bytes(digest, "little"))
        self._lines.append(line)

    def first_duplicate(self) -> tuple[int, int] | None:
        """``(first line, repeated line)`` of the earliest repeated id, or None."""
        if not self._hashes:
            return None
        hashes = np.frombuffer(self._hashes, dtype=np.uint64)
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        if not same.size:
            return None
        lines = np.frombuffer(self._lines, dtype=np.uint64)
        repeats = [(int(lines[order[i + 1]]), int(lines[order[i]])) for i in same]
        second, first = min(repeats)
        return first, second
