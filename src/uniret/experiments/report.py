"""Placeholder replaced below."""

from pathlib import Path
from typing import Any


def write_report(results: dict[str, Any], out: Path, publish: bool = False) -> list[Path]:
    return []
