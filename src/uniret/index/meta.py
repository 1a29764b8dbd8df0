"""The ``meta.json`` every index folder carries, as typed data.

An index records what it covers (the passage store, by path and corpus hash), its kind and
parameters (BM25 settings; or the encoder that made the vectors, where those vectors are, and
the FAISS settings) and the library versions that built it. Readers get an :class:`IndexMeta`,
never a raw dict.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from uniret import __version__
from uniret.corpus.store import PassageStore
from uniret.errors import ArtifactError, damaged
from uniret.io import read_json

INDEX_META = "meta.json"
INDEX_FORMAT = "uniret.index/1"
BM25 = "bm25"
DENSE = "dense"


@dataclass(frozen=True)
class Location:
    """A folder an index points to: absolute, and relative to the index's parent folder (so a
    folder holding both can move as one)."""

    path: str
    relative_path: str

    @classmethod
    def of(cls, target: Path, index_dir: str | Path) -> Location:
        absolute = target.resolve()
        try:
            relative = os.path.relpath(absolute, Path(index_dir).resolve().parent)
        except ValueError:  # other drive
            relative = str(absolute)
        return cls(str(absolute), relative)

    def candidates(self, index_dir: str | Path) -> list[Path]:
        """Where to look, in order: the absolute path, then the relative one."""
        return [Path(self.path), Path(index_dir).resolve().parent / self.relative_path]


@dataclass(frozen=True)
class PassagesRef(Location):
    """The passage store an index covers."""

    corpus_hash: str = ""
    count: int = 0


@dataclass(frozen=True)
class EncoderInfo:
    """The model that made a dense index's vectors, and how they were shaped."""

    model: str
    pooling: str
    normalize: bool
    dim: int
    biencoder: dict[str, Any]
    corpus_hash: str = ""
    dtype: str = "float32"
    backend: str = "torch"
    """What computed the vectors: torch, openvino or openvino-int8."""
    model_location: Location | None = None
    """Where ``model`` lay when the index was written, if it named a local folder: a relative
    ``model`` then still opens from another working directory, or with the index moved."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderInfo:
        fields = {k: data[k] for k in data if k in cls.__dataclass_fields__}
        if isinstance(fields.get("model_location"), dict):
            fields["model_location"] = Location(**fields["model_location"])
        return cls(**fields)

    def identity(self) -> dict[str, Any]:
        """What an embeddings shard records of the model and must match between shards and
        at query time (``index.encode.model_identity``): the backend only when it is not
        PyTorch."""
        identity = {
            "model": self.model,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "dim": self.dim,
            "biencoder": self.biencoder,
        }
        if self.backend != "torch":
            identity["backend"] = self.backend
        return identity

    def located(self, model_dir: str | Path | None, index_dir: str | Path) -> EncoderInfo:
        """This info with ``model_location`` set for an index at ``index_dir``, if
        ``model_dir`` is a local folder (a hub name has no location)."""
        if model_dir is None or not Path(model_dir).is_dir():
            return self
        return replace(self, model_location=Location.of(Path(model_dir), index_dir))

    def model_source(self, index_dir: str | Path) -> str:
        """What to load the model from: ``model`` as recorded for a hub name; for a local
        folder, where it lay when the index was written (absolute path first, then relative to
        the index's parent folder), the absolute path if neither is there (a clear error)."""
        if self.model_location is None:
            return self.model
        where = self.model_location.candidates(index_dir)
        return next((str(c) for c in where if c.is_dir()), self.model_location.path)


@dataclass(frozen=True)
class IndexMeta:
    """A parsed index ``meta.json``: ``bm25`` set for BM25 indexes; ``encoder``, ``faiss``
    and (since the embeddings are kept beside) ``embeddings`` for dense ones."""

    kind: str
    passages: PassagesRef
    versions: dict[str, str] = field(default_factory=dict)
    bm25: dict[str, Any] | None = None
    encoder: EncoderInfo | None = None
    faiss: dict[str, Any] | None = None
    embeddings: Location | None = None

    @classmethod
    def new(cls, kind: str, store: PassageStore, index_dir: str | Path, **extra: Any) -> IndexMeta:
        """The meta of a new index of ``store`` at ``index_dir``."""
        where = Location.of(store.directory, index_dir)
        passages = PassagesRef(where.path, where.relative_path, store.corpus_hash, len(store))
        versions = {"uniret": __version__, "python": platform.python_version()}
        versions.update(extra.pop("versions", {}))
        return cls(kind=kind, passages=passages, versions=versions, **extra)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": INDEX_FORMAT, **asdict(self)}
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexMeta:
        encoder = data.get("encoder")
        embeddings = data.get("embeddings")
        return cls(
            kind=str(data["kind"]),
            passages=PassagesRef(**data["passages"]),
            versions=dict(data.get("versions", {})),
            bm25=data.get("bm25"),
            encoder=EncoderInfo.from_dict(encoder) if encoder else None,
            faiss=data.get("faiss"),
            embeddings=Location(**embeddings) if embeddings else None,
        )


def damaged_index(index_dir: str | Path, rebuild: str) -> contextlib.AbstractContextManager[None]:
    """Any failure to read the index's files becomes one error naming it and its fix."""
    return damaged(f"index {index_dir}", f"rebuild it with `{rebuild} --overwrite`")


def read_index_meta(index_dir: str | Path, kind: str | None = None) -> IndexMeta:
    """Read and check an index's meta.json (and its ``kind``, if given)."""
    path = Path(index_dir) / INDEX_META
    if not path.is_file():
        raise ArtifactError(f"{index_dir} is not a uniret index (no {INDEX_META})")
    with damaged_index(index_dir, "uniret index bm25|dense"):
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise ArtifactError(f"{INDEX_META}: unknown index format {found!r}")
        meta = IndexMeta.from_dict(data)
        if meta.kind == DENSE and (meta.encoder is None or meta.faiss is None):
            raise ArtifactError(f"{INDEX_META}: a dense index without 'encoder' or 'faiss'")
        if meta.kind == BM25 and meta.bm25 is None:
            raise ArtifactError(f"{INDEX_META}: a BM25 index without 'bm25'")
    if kind is not None and meta.kind != kind:
        raise ArtifactError(f"{index_dir} is a {meta.kind} index, not a {kind} one")
    return meta


def open_passages(
    index_dir: str | Path, meta: IndexMeta, override: str | Path | None = None
) -> PassageStore:
    """The passage store an index covers, checked against the corpus hash it recorded.

    Looks at ``override`` first, then the recorded absolute path, then the path relative to
    the index's parent folder (so a folder holding both can be moved as one).
    """
    recorded = meta.passages
    candidates = [Path(override)] if override else recorded.candidates(index_dir)
    for candidate in candidates:
        if (candidate / "meta.json").is_file():
            store = PassageStore(candidate)
            if store.corpus_hash != recorded.corpus_hash:
                raise ArtifactError(
                    f"passages at {candidate} have corpus hash {store.corpus_hash}, but index "
                    f"{index_dir} was built on {recorded.corpus_hash}"
                )
            return store
    tried = ", ".join(str(c) for c in candidates)
    raise ArtifactError(f"passages of index {index_dir} not found (tried {tried}); pass --passages")
