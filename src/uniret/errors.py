"""Errors raised for bad input; each names the file, line and field at fault."""

from __future__ import annotations

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
