"""Small file helpers: atomic writes and line-numbered JSONL reading."""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from uniret.errors import InputError

logger = logging.getLogger(__name__)


def replace_path(new: Path, target: Path) -> None:
    """Rename ``new`` onto ``target``. A non-empty folder at ``target`` is first renamed aside
    and deleted only once ``new`` is in place (put back if that fails)."""
    if target.is_dir() and not target.is_symlink() and any(target.iterdir()):
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, aside)
        try:
            os.replace(new, target)
        except OSError:
            os.replace(aside, target)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(new, target)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    Works for files and directories; a failed block leaves no partial output behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        replace_path(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a file for reading bytes; ``.gz`` files are decompressed on the fly."""
    if Path(path).is_dir():
        raise InputError(path, None, None, "is a folder, expected a file")
    if str(path).endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_jsonl(
    path: str | Path, *, skip_invalid: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line (``.jsonl`` or ``.jsonl.gz``).

    A line that is not UTF-8 text holding a JSON object raises InputError, or is logged and
    skipped with ``skip_invalid``.
    """
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise InputError(path, number, None, "expected a JSON object")
            except UnicodeDecodeError as exc:
                error = InputError(path, number, None, f"not UTF-8 text (byte {exc.start})")
            except json.JSONDecodeError as exc:
                error = InputError(path, number, None, f"invalid JSON ({exc.msg})")
            except InputError as exc:
                error = exc
            else:
                yield number, record
                continue
            if not skip_invalid:
                raise error
            logger.warning("skipping %s", error)


def write_jsonl(path: str | Path, records: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> int:
    """Write records as JSONL atomically; return how many were written."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_json(path: str | Path, obj: Any) -> None:
    """Write one JSON document atomically, pretty-printed."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> Any:
    """Read one JSON document; a file that is not valid JSON raises InputError naming it."""
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(path, None, None, f"not valid JSON ({exc})") from None
