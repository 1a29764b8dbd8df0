"""Run a retriever over KILT task files and write KILT-format predictions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from uniret.io import write_jsonl
from uniret.retrieval.base import Retriever
from uniret.tasks.kilt import TaskFile, read_examples
from uniret.tasks.registry import TaskSpec, get_task
from uniret.types import Example, Hit

logger = logging.getLogger(__name__)


def hits_to_provenance(
    retriever: Retriever, ranked: Sequence[Sequence[Hit]]
) -> list[list[dict[str, Any]]]:
    """KILT provenance entries for each query's ranked hits, best first (one store lookup)."""
    flat = [h for hits in ranked for h in hits]
    passages = iter(retriever.store.get_many([h.passage_id for h in flat]))
    out = []
    for hits in ranked:
        entries = []
        for h in hits:
            p = next(passages)
            entries.append(
                {
                    "wikipedia_id": p.wikipedia_id,
                    "title": p.title,
                    "start_paragraph_id": p.start_paragraph,
                    "end_paragraph_id": p.end_paragraph,
                    "text": p.text,
                    "score": round(h.score, 6),
                    "passage_id": p.id,
                }
            )
        out.append(entries)
    return out


def prediction_record(example: Example, provenance: list[dict[str, Any]]) -> dict[str, Any]:
    """One KILT prediction: the example's id and input, ``output[0].provenance`` best first."""
    return {"id": example.id, "input": example.input, "output": [{"provenance": provenance}]}


def iter_predictions(
    retriever: Retriever,
    examples: Sequence[Example],
    spec: TaskSpec,
    k: int,
    *,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """KILT prediction records, one per example, in input order."""
    queries = [e.input for e in examples]  # each retriever formats them for ``spec``
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        ranked = retriever.search(queries[start : start + batch_size], k, task=spec.name)
        provenance = hits_to_provenance(retriever, ranked)
        for example, entries in zip(batch, provenance, strict=True):
            yield prediction_record(example, entries)
        if progress is not None:
            progress(len(batch))


def predict_file(
    retriever: Retriever,
    task_file: str | Path,
    out_path: str | Path,
    k: int,
    *,
    task: str | None = None,
    skip_invalid: bool = False,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Retrieve for every example of ``task_file``; write predictions atomically; return count."""
    info = TaskFile.from_path(task_file)
    spec = get_task(task or info.task)
    examples = read_examples(task_file, skip_invalid=skip_invalid)
    records = iter_predictions(
        retriever, examples, spec, k, batch_size=batch_size, progress=progress
    )
    count = write_jsonl(out_path, records)
    logger.info("%s: %d predictions written to %s", info.path.name, count, out_path)
    return count
