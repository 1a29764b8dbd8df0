"""Errors raised for bad input; each names the file, line and field at fault."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


class UniretError(Exception):
    """Base class of every error uniret raises on purpose."""


class InputError(UniretError, ValueError):
    """A malformed input record: says which file, which line (1-based) and which field."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path + (f", line {line}" if line is not None else "")
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}")


class ArtifactError(UniretError):
    """An on-disk artifact (passage store, index, predictions) is missing or inconsistent."""


class DamagedError(ArtifactError):
    """An artifact's files exist but cannot be read back (truncated, overwritten, mixed)."""


# what reading a truncated or foreign file raises in numpy, pyarrow, faiss, bm25s and json
_READ_FAILURES = (
    UniretError,
    OSError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    RuntimeError,
    EOFError,
)


@contextlib.contextmanager
def damaged(what: str, fix: str) -> Iterator[None]:
    """Turn any failure to read ``what`` into one :class:`DamagedError`: what broke, and ``fix``
    (the command that rebuilds it)."""
    try:
        yield
    except DamagedError:
        raise
    except _READ_FAILURES as exc:
        raise DamagedError(f"{what} is damaged ({_short(exc)}); {fix}") from None


def _short(exc: BaseException) -> str:
    """The gist of a low-level read error, on one short line."""
    if isinstance(exc, UniretError):
        text = str(exc)
    elif "pickled" in str(exc):
        text = "not a numpy array file"
    else:
        text = str(exc).rsplit("Error: ", 1)[-1]  # faiss: "Error in <signature> at ...: Error: "
        text = f"{type(exc).__name__}: {text}"
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= 160 else line[:157] + "..."
