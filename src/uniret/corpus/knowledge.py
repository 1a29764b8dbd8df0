"""Stream a KILT knowledge source (one page per JSON line) without loading it whole."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from uniret.errors import InputError
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
    return Page(wikipedia_id=str(wid).strip(), title=title.strip(), paragraphs=tuple(text[1:]))


def iter_pages(
    path: str | Path, *, skip_invalid: bool = False, stats: ReadStats | None = None
) -> Iterator[Page]:
    """Yield pages one by one, hashing the raw bytes on the way (``stats.sha256`` at the end).

    With ``skip_invalid`` a malformed line is logged and counted in ``stats.skipped``;
    otherwise it raises :class:`InputError` naming file, line and field.
    """
    stats = stats if stats is not None else ReadStats()
    digest = stats._hash
    with open(path, "rb") as handle:
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
            stats.pages += 1
            yield page
    stats.sha256 = digest.hexdigest()  # type: ignore[attr-defined]
