"""Training examples (query, gold passages, hard negatives) built from KILT files, saved once.

File format: JSONL, one example per line:
``{"task", "id", "query", "answers", "positives": [passage ids], "negatives": [passage ids]}``.
Queries are stored formatted by the task registry (with ``[SEP]``); formatting is idempotent, so
every retriever or model formats them again with its own separator when it reads them.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uniret.corpus.store import PassageStore
from uniret.errors import InputError
from uniret.io import iter_jsonl, write_jsonl
from uniret.retrieval.base import PassageScorer, Retriever
from uniret.tasks.kilt import TaskFile, read_examples
from uniret.tasks.positives import contains_answer, gold_passages
from uniret.tasks.registry import SEP, QueryFormat, format_query, get_task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainExample:
    """One training query with its gold passages and hard negatives."""

    task: str
    id: str
    query: str
    answers: tuple[str, ...]
    positives: tuple[int, ...]
    negatives: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "id": self.id,
            "query": self.query,
            "answers": list(self.answers),
            "positives": list(self.positives),
            "negatives": list(self.negatives),
        }


@dataclass(frozen=True)
class MiningConfig:
    """Which retrieved passages become hard negatives: ranks ``[rank_from, rank_to)`` of the
    retriever's list (0-based), passages of gold pages skipped, at most ``count`` kept;
    ``skip_answer`` also skips passages containing a gold answer (likely false negatives);
    ``margin`` m (a retriever that scores given passages: dense) also skips passages scoring
    above ``s(q, p⁺) − m``, where ``s(q, p⁺)`` is the query's best gold passage score (an
    absolute margin to the positive: a confounder the miner ranks above the gold is more
    likely an unlabelled positive); ``subject_only`` searches with the subject of a
    ``subject [SEP] relation`` query."""

    count: int = 8
    rank_from: int = 0
    rank_to: int = 50
    skip_answer: bool = True
    batch_size: int = 256
    subject_only: bool = False
    margin: float | None = None

    def __post_init__(self) -> None:
        if self.margin is not None and self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")


def mining_query(query: str, config: MiningConfig) -> str:
    """What the miner searches for ``query``: the query, or with ``subject_only`` the subject
    of a slot-filling query (the text before its first ``[SEP]``, when there is one)."""
    subject, sep, _ = query.partition(SEP)
    return subject.strip() if config.subject_only and sep and subject.strip() else query


def draw_order(count: int, task: str, seed: int) -> list[int]:
    """The order in which low-data runs draw a task's examples: a permutation of
    ``range(count)`` fixed by ``seed`` and the task name."""
    return np.random.default_rng([seed, zlib.crc32(task.encode())]).permutation(count).tolist()


def build_examples(
    task_files: Sequence[str | Path],
    store: PassageStore,
    *,
    task: str | None = None,
    per_file: int = 0,
    seed: int = 0,
) -> list[TrainExample]:
    """Examples with positives (see :mod:`uniret.tasks.positives`); others are dropped.

    ``per_file`` > 0 keeps that many examples of each file (low data): the file's examples are
    visited in an order drawn from ``seed`` and the file's task until enough have positives;
    they are returned in file order. Only the kept ones pay for the gold-passage lookup.
    """
    out: list[TrainExample] = []
    for path in task_files:
        info = TaskFile.from_path(path)
        spec = get_task(task or info.task)
        dropped = 0
        raw = read_examples(path)
        order = draw_order(len(raw), spec.name, seed) if per_file > 0 else range(len(raw))
        kept: list[tuple[int, TrainExample]] = []
        for i in order:
            if per_file > 0 and len(kept) == per_file:
                break
            ex = raw[i]
            positives = tuple(p.id for p in gold_passages(ex, store))
            if not positives:
                dropped += 1
                continue
            query = format_query(ex.input, spec, QueryFormat())
            kept.append((i, TrainExample(spec.name, ex.id, query, tuple(ex.answers), positives)))
        out += [e for _, e in sorted(kept, key=lambda item: item[0])]
        if per_file > 0 and len(kept) < per_file:
            logger.warning(
                "%s: only %d examples with gold passages, fewer than %d", path, len(kept), per_file
            )
        if dropped:
            logger.warning(
                "%s: %d examples without gold passages in the store dropped", path, dropped
            )
    return out


def mine_negatives(
    examples: Sequence[TrainExample],
    retriever: Retriever,
    config: MiningConfig = MiningConfig(),
    *,
    progress: Callable[[int], None] | None = None,
) -> list[TrainExample]:
    """Replace each example's negatives by the retriever's top passages from non-gold pages
    (see :class:`MiningConfig` for what else is skipped)."""
    scorer = retriever if isinstance(retriever, PassageScorer) else None
    if config.margin is not None and scorer is None:
        raise ValueError(
            f"a mining margin needs a retriever that scores given passages (dense), "
            f"not {type(retriever).__name__}"
        )
    wid = retriever.store.wikipedia_ids
    mined: list[TrainExample] = []
    for start in range(0, len(examples), config.batch_size):
        batch = examples[start : start + config.batch_size]
        by_task: dict[str, list[int]] = {}
        for i, ex in enumerate(batch):
            by_task.setdefault(ex.task, []).append(i)
        ranked: list[Any] = [None] * len(batch)
        ceiling = [np.inf] * len(batch)
        for task, rows in by_task.items():
            queries = [mining_query(batch[i].query, config) for i in rows]  # formatted there
            if config.margin is not None and scorer is not None:
                positives = [batch[i].positives for i in rows]
                hits, gold = scorer.search_scored(queries, config.rank_to, positives, task=task)
                for i, scores in zip(rows, gold, strict=True):
                    ceiling[i] = float(scores.max()) - config.margin
            else:
                hits = retriever.search(queries, config.rank_to, task=task)
            for i, ranking in zip(rows, hits, strict=True):
                ranked[i] = ranking
        for ex, hits, top in zip(batch, ranked, ceiling, strict=True):
            gold_pages = {wid[p] for p in ex.positives}
            window = hits[config.rank_from : config.rank_to]
            candidates = [h.passage_id for h in window if h.score <= top]
            candidates = [p for p in candidates if wid[p] not in gold_pages]
            if config.skip_answer and ex.answers and candidates:
                texts = retriever.store.get_many(candidates)
                candidates = [p.id for p in texts if not contains_answer(p.text, list(ex.answers))]
            mined.append(
                TrainExample(
                    ex.task,
                    ex.id,
                    ex.query,
                    ex.answers,
                    ex.positives,
                    tuple(candidates[: config.count]),
                )
            )
        if progress is not None:
            progress(len(batch))
    return mined


def subsample(examples: list[TrainExample], per_task: int, seed: int) -> list[TrainExample]:
    """Keep ``per_task`` examples of each task (all when 0), drawn as :func:`draw_order` says;
    the kept examples stay in file order."""
    if per_task <= 0:
        return examples
    by_task: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_task.setdefault(e.task, []).append(i)
    keep: list[int] = []
    for task, rows in sorted(by_task.items()):
        if len(rows) < per_task:
            logger.warning("%s has %d examples, fewer than %d: all kept", task, len(rows), per_task)
        keep += [rows[i] for i in draw_order(len(rows), task, seed)[:per_task]]
    return [examples[i] for i in sorted(keep)]


def save_examples(path: str | Path, examples: Iterable[TrainExample]) -> int:
    """Write training examples atomically."""
    return write_jsonl(path, (e.to_dict() for e in examples))


def load_examples(path: str | Path) -> list[TrainExample]:
    """Read training examples, checking their fields."""
    out = []
    for line, r in iter_jsonl(path):
        try:
            out.append(
                TrainExample(
                    str(r["task"]),
                    str(r["id"]),
                    str(r["query"]),
                    tuple(r.get("answers", ())),
                    tuple(int(x) for x in r["positives"]),
                    tuple(int(x) for x in r.get("negatives", ())),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, line, str(exc).strip("'"), "missing or malformed") from None
    return out
