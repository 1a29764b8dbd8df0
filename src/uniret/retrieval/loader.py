"""Open a retriever from index directories or a retriever bundle: the Python entry point.

from uniret import load_retriever
retriever = load_retriever(["runs/index-bm25", "runs/index-dense"])   # a hybrid
retriever = load_retriever("runs/quickstart/retrievers/bm25+multi-task.json")  # a bundle
hits = retriever.search(["where was Marie Curie born"], k=10)[0]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from uniret.errors import UniretError
from uniret.index.meta import read_index_meta
from uniret.retrieval.base import Retriever
from uniret.retrieval.bundle import RetrieverBundle, is_bundle
from uniret.retrieval.hybrid import FusionConfig, HybridRetriever

if TYPE_CHECKING:
    from uniret.models.backends import BackendConfig


def load_retriever(
    index_dirs: str | Path | Sequence[str | Path],
    *,
    model: str | None = None,
    passages: str | Path | None = None,
    fusion: FusionConfig = FusionConfig(),
    device: str | None = None,
    backend: BackendConfig | None = None,
) -> Retriever:
    """One index gives its own retriever (BM25 or dense); several give a hybrid of them; a
    retriever bundle file (:mod:`uniret.retrieval.bundle`) gives the retriever it names.

    ``model`` replaces the query encoder named in a dense index's meta.json; ``backend``
    runs query encoding on OpenVINO (see :mod:`uniret.models.backends`).
    """
    dirs = [index_dirs] if isinstance(index_dirs, str | Path) else list(index_dirs)
    if len(dirs) == 1 and is_bundle(dirs[0]):
        return open_bundle(RetrieverBundle.load(dirs[0]), device=device, backend=backend)
    retrievers = [_open(d, model, passages, device, backend) for d in dirs]
    if len(retrievers) == 1:
        return retrievers[0]
    return HybridRetriever(retrievers, fusion)


def open_bundle(
    bundle: RetrieverBundle, *, device: str | None = None, backend: BackendConfig | None = None
) -> Retriever:
    """The retriever a bundle names."""
    return load_retriever(
        bundle.indexes,
        model=bundle.model,
        passages=bundle.passages,
        fusion=bundle.fusion,
        device=device,
        backend=backend,
    )


def _open(
    index_dir: str | Path,
    model: str | None,
    passages: str | Path | None,
    device: str | None,
    backend: BackendConfig | None,
) -> Retriever:
    kind = read_index_meta(index_dir).kind
    if kind == "bm25":
        from uniret.retrieval.sparse import BM25Retriever

        return BM25Retriever.load(index_dir, passages)
    if kind == "dense":
        from uniret.retrieval.dense import DenseRetriever

        return DenseRetriever.load(
            index_dir, model=model, passages=passages, device=device, backend=backend
        )
    raise UniretError(f"{index_dir}: unsupported index kind {kind!r}")
