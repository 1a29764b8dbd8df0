"""The end-to-end job, cached on disk: passages -> BM25 -> base dense index -> query-side
multi-task training -> predictions -> KILT evaluation of BM25, base, multi-task and hybrid."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from uniret.corpus.chunking import ChunkConfig
from uniret.corpus.store import META_FILE, PassageStore, build_passage_store
from uniret.defaults import DEFAULT_MODEL
from uniret.evaluation.evaluate import EvalConfig, TaskReport, evaluate_file
from uniret.index.bm25 import BM25Config, build_bm25_index
from uniret.index.meta import BM25, DENSE, INDEX_META, read_index_meta
from uniret.io import read_json
from uniret.retrieval.bundle import RetrieverBundle
from uniret.retrieval.predict import predict_file
from uniret.retrieval.sparse import BM25Retriever
from uniret.tasks.kilt import find_task_files

logger = logging.getLogger(__name__)

RETRIEVERS_DIR = "retrievers"
KNOWLEDGE_NAMES = (
    "knowledge.jsonl",
    "knowledge.jsonl.gz",
    "kilt_knowledgesource.json",
    "kilt_knowledgesource.json.gz",
)


@dataclass(frozen=True)
class PipelineConfig:
    """Where the benchmark lives, where outputs go, and what to run."""

    data_dir: Path
    work_dir: Path
    split: str = "dev"
    k: int = 100
    chunking: ChunkConfig = ChunkConfig()
    bm25: BM25Config = BM25Config()
    dense: bool = True
    base_model: str = DEFAULT_MODEL
    encode_batch_size: int = 64
    train_config: Path | None = None
    train_overrides: tuple[str, ...] = ()


def find_knowledge(data_dir: str | Path) -> Path:
    """The knowledge-source file of a benchmark folder."""
    for name in KNOWLEDGE_NAMES:
        if (Path(data_dir) / name).is_file():
            return Path(data_dir) / name
    raise FileNotFoundError(f"no knowledge source ({' or '.join(KNOWLEDGE_NAMES)}) in {data_dir}")


def ensure_passages(
    knowledge: Path,
    out_dir: Path,
    config: ChunkConfig,
    on_page: Callable[[int], None] | None = None,
) -> PassageStore:
    """Reuse the passage store at ``out_dir`` if it was built from the same file and config."""
    meta_path = out_dir / META_FILE
    if meta_path.is_file():
        meta = read_json(meta_path)
        if (
            meta.get("source") == str(knowledge.resolve())
            and meta.get("chunking") == asdict(config)
            and meta.get("source_bytes") == knowledge.stat().st_size
        ):
            logger.info("reusing passages at %s", out_dir)
            return PassageStore(out_dir)
    build_passage_store(knowledge, out_dir, config, on_page=on_page, overwrite=True)
    return PassageStore(out_dir)


def ensure_bm25(store: PassageStore, out_dir: Path, config: BM25Config) -> BM25Retriever:
    """Reuse the BM25 index at ``out_dir`` if it covers this corpus with this config."""
    if (out_dir / INDEX_META).is_file():
        meta = read_index_meta(out_dir, BM25)
        if meta.passages.corpus_hash == store.corpus_hash and meta.bm25 == asdict(config):
            logger.info("reusing BM25 index at %s", out_dir)
            return BM25Retriever.load(out_dir, store.directory)
    build_bm25_index(store, out_dir, config, overwrite=True)
    return BM25Retriever.load(out_dir, store.directory)


@dataclass
class Callbacks:
    """Progress hooks for long steps (the CLI turns them into progress bars)."""

    encode: Callable[[int, int], None] | None = None
    train: Callable[[dict], None] | None = None


def ensure_base_index(store: PassageStore, config: PipelineConfig, callbacks: Callbacks) -> Path:
    """Encode the corpus with the base model (resumable) and build an exact FAISS index."""
    from uniret.index.dense import build_dense_index
    from uniret.index.encode import EncodeConfig, encode_shard
    from uniret.models.biencoder import BiEncoder

    emb_dir = config.work_dir / "emb-base"
    index_dir = config.work_dir / "index-base"
    if (index_dir / INDEX_META).is_file():
        meta = read_index_meta(index_dir, DENSE)
        encoder = meta.encoder
        if (
            meta.passages.corpus_hash == store.corpus_hash
            and encoder is not None
            and encoder.model == config.base_model
        ):
            logger.info("reusing dense index at %s", index_dir)
            return index_dir
    model = BiEncoder.from_pretrained(config.base_model)
    total = len(store)
    encode_shard(
        model,
        config.base_model,
        store,
        emb_dir,
        config=EncodeConfig(batch_size=config.encode_batch_size),
        progress=(lambda n: callbacks.encode(n, total)) if callbacks.encode else None,  # type: ignore[misc]
    )
    return build_dense_index(emb_dir, index_dir, overwrite=True)


def ensure_multitask(index_dir: Path, config: PipelineConfig, callbacks: Callbacks) -> Path:
    """Train the query-side multi-task model unless the same config was trained already."""
    from uniret.config import build_config, config_to_dict, load_mapping, parse_overrides, to_toml
    from uniret.training.config import TrainConfig
    from uniret.training.trainer import train

    assert config.train_config is not None
    data = load_mapping(config.train_config)
    overrides = {"data_dir": str(config.data_dir), "index": str(index_dir)}
    overrides.update(parse_overrides(config.train_overrides))
    train_config = build_config(TrainConfig, data, overrides, str(config.train_config))
    out = config.work_dir / "multitask"
    resolved = to_toml(config_to_dict(train_config))
    saved = out / "train_config.toml"
    if (out / "train_log.json").is_file() and saved.is_file() and saved.read_text() == resolved:
        logger.info("reusing trained model at %s", out)
        return out
    train(train_config, out, resume=True, progress=callbacks.train)
    return out


def evaluate_system(
    bundle: RetrieverBundle, stamp: dict, config: PipelineConfig
) -> list[TaskReport]:
    """Write the system's bundle (``WORK/retrievers/NAME.json``), predict (unless predictions
    for the same ``stamp`` exist) and evaluate every task file."""
    from uniret.io import write_json
    from uniret.retrieval.loader import open_bundle

    bundle.save(config.work_dir / RETRIEVERS_DIR / f"{bundle.name}.json")
    task_files = find_task_files(config.data_dir, config.split)
    pred_dir = config.work_dir / "predictions" / bundle.name
    stamp_file = pred_dir / "stamp.json"
    stamp = {**stamp, "k": config.k, "files": [f.name for f in task_files]}
    fresh = stamp_file.is_file() and read_json(stamp_file) == stamp
    if not fresh:
        retriever = open_bundle(bundle)
        for task_file in task_files:
            predict_file(retriever, task_file.path, pred_dir / task_file.name, config.k)
        write_json(stamp_file, stamp)
    return [evaluate_file(f.path, pred_dir / f.name, EvalConfig()) for f in task_files]


def run_pipeline(
    config: PipelineConfig, callbacks: Callbacks | None = None
) -> dict[str, list[TaskReport]]:
    """Every system of the main job, evaluated; artifacts cached under ``work_dir``, each
    system also written as a retriever bundle (``WORK/retrievers/<name>.json``)."""
    callbacks = callbacks or Callbacks()
    knowledge = find_knowledge(config.data_dir)
    store = ensure_passages(knowledge, config.work_dir / "passages", config.chunking)
    bm25 = str(config.work_dir / "index-bm25")
    ensure_bm25(store, Path(bm25), config.bm25)
    if not find_task_files(config.data_dir, config.split):
        raise FileNotFoundError(f"no *-{config.split}-kilt.jsonl task files in {config.data_dir}")
    systems: dict[str, list[TaskReport]] = {}
    corpus = {"corpus": store.corpus_hash}
    systems["BM25"] = evaluate_system(
        RetrieverBundle("bm25", (bm25,)), {**corpus, "bm25": asdict(config.bm25)}, config
    )
    if not config.dense:
        return systems
    index = str(ensure_base_index(store, config, callbacks))
    base_stamp = {**corpus, "model": config.base_model}
    systems["base (zero-shot)"] = evaluate_system(
        RetrieverBundle("base", (index,)), base_stamp, config
    )
    systems["BM25 + base (RRF)"] = evaluate_system(
        RetrieverBundle("bm25+base", (bm25, index)), base_stamp, config
    )
    if config.train_config is None:
        return systems
    model = str(ensure_multitask(Path(index), config, callbacks))
    trained = {
        **corpus,
        "model": model,
        "trained": (Path(model) / "train_log.json").stat().st_mtime_ns,
    }
    systems["multi-task (query side)"] = evaluate_system(
        RetrieverBundle("multi-task", (index,), model=model), trained, config
    )
    systems["BM25 + multi-task (RRF)"] = evaluate_system(
        RetrieverBundle("bm25+multi-task", (bm25, index), model=model), trained, config
    )
    return systems
