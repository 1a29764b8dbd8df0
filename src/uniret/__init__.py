"""uniret: universal dense retrieval for knowledge-intensive tasks (KILT in and out).

The public API, importable from the package root (loaded on first use, so ``import uniret``
stays light)::

    from uniret import load_retriever, BiEncoder, PassageStore, evaluate_file, train, TrainConfig
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "load_retriever": "uniret.retrieval.loader",
    "Retriever": "uniret.retrieval.base",
    "BiEncoder": "uniret.models.biencoder",
    "PassageStore": "uniret.corpus.store",
    "build_passage_store": "uniret.corpus.store",
    "evaluate_file": "uniret.evaluation.evaluate",
    "EvalConfig": "uniret.evaluation.evaluate",
    "train": "uniret.training.trainer",
    "TrainConfig": "uniret.training.config",
    "UniretError": "uniret.errors",
}
__all__ = [
    "BiEncoder",
    "EvalConfig",
    "PassageStore",
    "Retriever",
    "TrainConfig",
    "UniretError",
    "__version__",
    "build_passage_store",
    "evaluate_file",
    "load_retriever",
    "train",
]

if TYPE_CHECKING:
    from uniret.corpus.store import PassageStore, build_passage_store
    from uniret.errors import UniretError
    from uniret.evaluation.evaluate import EvalConfig, evaluate_file
    from uniret.models.biencoder import BiEncoder
    from uniret.retrieval.base import Retriever
    from uniret.retrieval.loader import load_retriever
    from uniret.training.config import TrainConfig
    from uniret.training.trainer import train


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'uniret' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
