"""The artifacts every cell of an experiment reads, built once per work folder: the passage
store, the BM25 index and the base model's dense index (corpus encoding is the slow step).

Every cached step of uniret is keyed the same way (:func:`cache_key`): a hash of everything
that decides its output. A shared step's key covers its input's content (the knowledge file's
bytes, or the corpus hash), its settings and the format of what it writes; a cell's key also
covers uniret's own code (:func:`code_digest`), so results of older code are never reused.
The key is stored beside the output (``step.json``); a step whose key differs is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uniret.corpus.chunking import ChunkConfig
from uniret.corpus.store import FORMAT as PASSAGES_FORMAT
from uniret.corpus.store import PassageStore, build_passage_store
from uniret.index.bm25 import BM25Config, build_bm25_index
from uniret.index.meta import INDEX_FORMAT
from uniret.io import open_binary, read_json, write_json
from uniret.models.backends import BackendConfig

if TYPE_CHECKING:
    from uniret.models.biencoder import BiEncoder

logger = logging.getLogger(__name__)

STEP_FILE = "step.json"
KNOWLEDGE_NAMES = (
    "knowledge.jsonl",
    "knowledge.jsonl.gz",
    "kilt_knowledgesource.json",
    "kilt_knowledgesource.json.gz",
)


def cache_key(payload: dict[str, Any]) -> str:
    """The cache key of a step: sha256 of its inputs as canonical JSON (16 hex digits)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# what cannot change a cell's result: the command line (nothing imports it) and the report
# and plots drawn from finished results
_NOT_RESULTS = ("experiments/report.py", "experiments/plots.py")


@cache
def code_digest() -> str:
    """sha256 of the source files of the installed uniret package (paths and bytes), except
    those that cannot change a result: the command line and the report rendering."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] == "cli" or relative.as_posix() in _NOT_RESULTS:
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, decompressed if gzipped (streamed): a gzipped copy of a file
    has the digest of the file."""
    digest = hashlib.sha256()
    with open_binary(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_knowledge(data_dir: str | Path) -> Path:
    """The knowledge-source file of a benchmark folder."""
    for name in KNOWLEDGE_NAMES:
        if (Path(data_dir) / name).is_file():
            return Path(data_dir) / name
    raise FileNotFoundError(f"no knowledge source ({' or '.join(KNOWLEDGE_NAMES)}) in {data_dir}")


@dataclass(frozen=True)
class Shared:
    """Artifacts every cell reads."""

    passages: Path
    bm25: Path
    base_index: Path


@dataclass(frozen=True)
class SharedConfig:
    """How the shared artifacts are made."""

    chunking: ChunkConfig = ChunkConfig()
    bm25: BM25Config = BM25Config()
    encode_batch_size: int = 64


def _cached(folder: Path, key: str, build: Callable[[], object]) -> None:
    """Run ``build`` unless ``folder`` holds the output of a step with this ``key``."""
    stamp = folder.parent / f".{folder.name}.{STEP_FILE}"
    if folder.exists() and stamp.is_file() and read_json(stamp).get("key") == key:
        logger.info("reusing %s", folder)
        return
    build()
    write_json(stamp, {"key": key})


def build_shared(
    data_dir: Path,
    work: Path,
    base_model: str | None,
    config: SharedConfig = SharedConfig(),
    *,
    backend: BackendConfig | None = None,
    device: str = "cpu",
    on_encode: Callable[[int, int], None] | None = None,
) -> Shared:
    """Passages, BM25 and (with a ``base_model``) the base dense index under ``work``, the
    corpus encoded on ``device``; ``on_encode(n, total)`` follows the encoding."""
    knowledge = find_knowledge(data_dir)
    passages = work / "passages"
    _cached(
        passages,
        cache_key(
            {
                "knowledge": file_digest(knowledge),
                "chunking": asdict(config.chunking),
                "format": PASSAGES_FORMAT,
            }
        ),
        lambda: build_passage_store(knowledge, passages, config.chunking, overwrite=True),
    )
    store = PassageStore(passages)
    bm25 = work / "index-bm25"
    _cached(
        bm25,
        cache_key(
            {"corpus": store.corpus_hash, "bm25": asdict(config.bm25), "format": INDEX_FORMAT}
        ),
        lambda: build_bm25_index(store, bm25, config.bm25, overwrite=True),
    )
    index = work / "index-base"
    if base_model is not None:
        key = cache_key(
            {
                "corpus": store.corpus_hash,
                "model": base_model,
                "backend": backend.label if backend else "torch",
                "format": INDEX_FORMAT,
                "batch_size": config.encode_batch_size,
            }
        )
        _cached(
            index,
            key,
            lambda: _encode_base(store, work, base_model, config, backend, device, on_encode),
        )
    return Shared(passages, bm25, index)


def corpus_encoder(
    model: str, store: PassageStore, backend: BackendConfig | None, device: str
) -> BiEncoder:
    """``model`` loaded on ``device`` to encode ``store``, on ``backend`` when that is not
    PyTorch (int8 calibrated on the store's passages)."""
    from uniret.index.encode import calibration_texts
    from uniret.models.biencoder import BiEncoder

    encoder = BiEncoder.from_pretrained(model).to(device)
    if backend is not None and backend.label != "torch":
        encoder.use_backend(backend, lambda n: calibration_texts(store, encoder, n))
    return encoder


def _encode_base(
    store: PassageStore,
    work: Path,
    base_model: str,
    config: SharedConfig,
    backend: BackendConfig | None,
    device: str,
    on_encode: Callable[[int, int], None] | None,
) -> None:
    """Encode the corpus with the base model (resumable) and build an exact FAISS index."""
    from uniret.index.dense import build_dense_index
    from uniret.index.encode import EncodeConfig, encode_shard

    model = corpus_encoder(base_model, store, backend, device)
    label = model.backend.label
    embeddings = work / ("emb-base" if label == "torch" else f"emb-base-{label}")
    encode_shard(
        model,
        base_model,
        store,
        embeddings,
        config=EncodeConfig(batch_size=config.encode_batch_size),
        progress=(lambda n: on_encode(n, len(store))) if on_encode else None,
    )
    build_dense_index(embeddings, work / "index-base", overwrite=True)
