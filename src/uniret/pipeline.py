"""End-to-end baseline pipeline, cached on disk: passages -> BM25 -> predictions -> report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from uniret.corpus.chunking import ChunkConfig
from uniret.corpus.store import META_FILE, PassageStore, build_passage_store
from uniret.evaluation.evaluate import EvalConfig, TaskReport, evaluate_file
from uniret.io import read_json
from uniret.retrieval.base import INDEX_META, Retriever
from uniret.retrieval.predict import predict_file
from uniret.retrieval.sparse import BM25Retriever, build_bm25_index
from uniret.sparse.bm25 import BM25Config
from uniret.tasks.kilt import TaskFile, find_task_files

logger = logging.getLogger(__name__)

KNOWLEDGE_NAMES = ("knowledge.jsonl", "kilt_knowledgesource.json")


@dataclass(frozen=True)
class PipelineConfig:
    """Where the benchmark lives, where outputs go, and what to run."""

    data_dir: Path
    work_dir: Path
    split: str = "dev"
    k: int = 100
    chunking: ChunkConfig = ChunkConfig()
    bm25: BM25Config = BM25Config()


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
    build_passage_store(knowledge, out_dir, config, on_page=on_page)
    return PassageStore(out_dir)


def ensure_bm25(store: PassageStore, out_dir: Path, config: BM25Config) -> BM25Retriever:
    """Reuse the BM25 index at ``out_dir`` if it covers this corpus with this config."""
    meta_path = out_dir / INDEX_META
    if meta_path.is_file():
        meta = read_json(meta_path)
        if meta["passages"]["corpus_hash"] == store.corpus_hash and meta.get("bm25") == asdict(
            config
        ):
            logger.info("reusing BM25 index at %s", out_dir)
            return BM25Retriever.load(out_dir, store.directory)
    build_bm25_index(store, out_dir, config)
    return BM25Retriever.load(out_dir, store.directory)


def evaluate_retriever(
    retriever: Retriever,
    task_files: list[TaskFile],
    pred_dir: Path,
    k: int,
    eval_config: EvalConfig,
) -> list[TaskReport]:
    """Predict and evaluate each task file; predictions land in ``pred_dir`` under the same name."""
    reports = []
    for task_file in task_files:
        out = pred_dir / task_file.path.name
        predict_file(retriever, task_file.path, out, k)
        reports.append(evaluate_file(task_file.path, out, eval_config))
    return reports


def run_bm25_baseline(config: PipelineConfig) -> list[TaskReport]:
    """Passages, BM25 index, dev predictions and their KILT evaluation, cached under work_dir."""
    knowledge = find_knowledge(config.data_dir)
    store = ensure_passages(knowledge, config.work_dir / "passages", config.chunking)
    retriever = ensure_bm25(store, config.work_dir / "index-bm25", config.bm25)
    task_files = find_task_files(config.data_dir, config.split)
    if not task_files:
        raise FileNotFoundError(f"no *-{config.split}-kilt.jsonl task files in {config.data_dir}")
    return evaluate_retriever(
        retriever, task_files, config.work_dir / "predictions" / "bm25", config.k, EvalConfig()
    )
