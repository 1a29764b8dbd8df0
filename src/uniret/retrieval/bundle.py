"""Retriever bundles: one small JSON file naming a whole retriever (its indexes, query model,
fusion and parameters), so "the system in row 5" is one argument.

File format (``uniret.retriever/1``)::

    {"format": "uniret.retriever/1", "name": "bm25+multi-task",
     "indexes": ["../index-bm25", "../index-base"], "model": "../multitask",
     "passages": null, "fusion": {"method": "weighted", "rrf_c": 60.0, "weights": [], "depth": 100}}

Paths are stored relative to the bundle's folder (absolute when on another drive), so a work
folder moves as one.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from uniret.errors import ArtifactError, damaged
from uniret.io import read_json, write_json
from uniret.retrieval.hybrid import Fusion, FusionConfig

BUNDLE_FORMAT = "uniret.retriever/1"


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a retriever bundle file (a JSON file, not an index folder)."""
    return Path(path).is_file() and Path(path).suffix == ".json"


@dataclass(frozen=True)
class RetrieverBundle:
    """A named retriever: one index (BM25 or dense), or several fused into a hybrid."""

    name: str
    indexes: tuple[str, ...]
    model: str | None = None
    passages: str | None = None
    fusion: FusionConfig = field(default_factory=FusionConfig)

    def __post_init__(self) -> None:
        if not self.indexes:
            raise ValueError(f"retriever {self.name!r} names no index")
        object.__setattr__(self, "indexes", tuple(str(i) for i in self.indexes))

    def save(self, path: str | Path) -> Path:
        """Write the bundle (paths relative to its folder)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        base = target.parent.resolve()

        def rel(p: str | None) -> str | None:
            return None if p is None else _relative(Path(p), base)

        model = self.model
        if model is not None and Path(model).exists():  # a folder, not a hub name
            model = rel(model)
        fusion = asdict(self.fusion)
        fusion["method"] = str(self.fusion.method)
        fusion["weights"] = list(self.fusion.weights)
        write_json(
            target,
            {
                "format": BUNDLE_FORMAT,
                "name": self.name,
                "indexes": [rel(i) for i in self.indexes],
                "model": model,
                "passages": rel(self.passages),
                "fusion": fusion,
            },
        )
        return target

    @classmethod
    def load(cls, path: str | Path) -> RetrieverBundle:
        """Read a bundle; its relative paths are resolved against its folder."""
        source = Path(path)
        with damaged(f"retriever bundle {source}", "write it again (or pass --index instead)"):
            data: dict[str, Any] = read_json(source)
            if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
                raise ArtifactError(f"not a {BUNDLE_FORMAT} file")
            base = source.parent

            def resolve(p: str | None) -> str | None:
                if p is None:
                    return None
                local = base / p
                return str(local) if local.exists() or not Path(p).exists() else p

            fusion = data.get("fusion") or {}
            return cls(
                name=str(data["name"]),
                indexes=tuple(str(resolve(i)) for i in data["indexes"]),
                model=resolve(data.get("model")),
                passages=resolve(data.get("passages")),
                fusion=FusionConfig(
                    method=Fusion(fusion.get("method", FusionConfig.method)),
                    rrf_c=float(fusion.get("rrf_c", FusionConfig.rrf_c)),
                    weights=tuple(float(w) for w in fusion.get("weights", ())),
                    depth=int(fusion.get("depth", FusionConfig.depth)),
                ),
            )


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), base)
    except ValueError:  # another drive
        return str(path.resolve())
