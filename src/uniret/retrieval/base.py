"""The Retriever protocol and the meta.json that every index directory carries."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from uniret import __version__
from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError, damaged
from uniret.io import read_json
from uniret.tasks.registry import QueryFormat
from uniret.types import Hit

INDEX_META = "meta.json"
INDEX_FORMAT = "uniret.index/1"


@runtime_checkable
class Retriever(Protocol):
    """Anything that ranks passages of one passage store for text queries."""

    store: PassageStore
    query_format: QueryFormat

    def search(self, queries: Sequence[str], k: int, task: str | None = None) -> list[list[Hit]]:
        """Top-``k`` hits per query, best first (``task`` picks a per-task query encoder)."""
        ...


def index_meta(
    kind: str, store: PassageStore, index_dir: str | Path, **extra: Any
) -> dict[str, Any]:
    """The meta.json of a new index: its kind, the passages it covers and library versions."""
    passages = store.directory.resolve()
    try:
        relative = os.path.relpath(passages, Path(index_dir).resolve().parent)
    except ValueError:  # other drive
        relative = str(passages)
    return {
        "format": INDEX_FORMAT,
        "kind": kind,
        "passages": {
            "path": str(passages),
            "relative_path": relative,
            "corpus_hash": store.corpus_hash,
            "count": len(store),
        },
        **extra,
        "versions": {"uniret": __version__, "python": platform.python_version()},
    }


def read_index_meta(index_dir: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read and check an index's meta.json (and its ``kind``, if given)."""
    path = Path(index_dir) / INDEX_META
    if not path.is_file():
        raise ArtifactError(f"{index_dir} is not a uniret index (no {INDEX_META})")
    with damaged_index(index_dir, "uniret index bm25|dense"):
        meta = read_json(path)
        if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise ArtifactError(f"{INDEX_META}: unknown index format {found!r}")
        for key in ("kind", "passages"):
            if key not in meta:
                raise ArtifactError(f"{INDEX_META}: no {key!r}")
    if kind is not None and meta["kind"] != kind:
        raise ArtifactError(f"{index_dir} is a {meta['kind']} index, not a {kind} one")
    return meta


def damaged_index(index_dir: str | Path, rebuild: str) -> contextlib.AbstractContextManager[None]:
    """Any failure to read the index's files becomes one error naming it and its fix."""
    return damaged(f"index {index_dir}", f"rebuild it with `{rebuild} --overwrite`")


def open_passages(
    index_dir: str | Path, meta: dict[str, Any], override: str | Path | None = None
) -> PassageStore:
    """The passage store an index covers, checked against the corpus hash it recorded.

    Looks at ``override`` first, then the recorded absolute path, then the path relative to
    the index's parent folder (so a folder holding both can be moved as one).
    """
    recorded = meta["passages"]
    candidates = (
        [Path(override)]
        if override
        else [
            Path(recorded["path"]),
            Path(index_dir).resolve().parent / recorded["relative_path"],
        ]
    )
    for candidate in candidates:
        if (candidate / "meta.json").is_file():
            store = PassageStore(candidate)
            if store.corpus_hash != recorded["corpus_hash"]:
                raise ArtifactError(
                    f"passages at {candidate} have corpus hash {store.corpus_hash}, but index "
                    f"{index_dir} was built on {recorded['corpus_hash']}"
                )
            return store
    tried = ", ".join(str(c) for c in candidates)
    raise ArtifactError(f"passages of index {index_dir} not found (tried {tried}); pass --passages")
