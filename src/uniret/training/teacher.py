"""Teacher rankings for distillation: another retriever's scored passage lists for the training
queries, read from the KILT prediction files `uniret retrieve` writes (``output[0].provenance``
ranked best first, each with ``passage_id`` and ``score``).

A teacher is typically the fusion of BM25 with the model being trained, run on the train files:

    uniret retrieve --index BM25 --index DENSE --weights 0.5,1 --k 50 \\
        --input DATA/*-train-kilt.jsonl.gz --out TEACHER
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uniret.errors import InputError
from uniret.evaluation.evaluate import read_predictions
from uniret.tasks.kilt import find_task_files

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeacherList:
    """One query's teacher ranking: passage ids and their scores, best first."""

    passages: np.ndarray
    scores: np.ndarray


def prediction_files(path: str | Path) -> list[Path]:
    """The prediction files of a folder (``*-kilt.jsonl``, or ``.gz``), or the one file given."""
    source = Path(path)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise InputError(source, None, None, "no such teacher predictions file or folder")
    files = [f.path for f in find_task_files(source)]
    if not files:
        raise InputError(
            source,
            None,
            None,
            "no *.jsonl prediction files (<task>-<split>-kilt.jsonl) in this folder",
        )
    return files


def load_teacher(path: str | Path, depth: int) -> dict[str, TeacherList]:
    """Each query id's top ``depth`` teacher passages with their scores."""
    teacher: dict[str, TeacherList] = {}
    for file in prediction_files(path):
        for query_id, (number, provenance) in read_predictions(file).items():
            ids, scores = [], []
            for i, item in enumerate(provenance[:depth]):
                if not isinstance(item, dict) or "passage_id" not in item or "score" not in item:
                    raise InputError(
                        file,
                        number,
                        f"output[0].provenance[{i}]",
                        "needs passage_id and score (predictions written by `uniret retrieve`)",
                    )
                ids.append(int(item["passage_id"]))
                scores.append(float(item["score"]))
            teacher[query_id] = TeacherList(
                np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32)
            )
    return teacher


def coverage(teacher: Mapping[str, TeacherList], ids: list[str]) -> float:
    """Share of ``ids`` that have a non-empty teacher list."""
    if not ids:
        return 0.0
    return sum(1 for i in ids if i in teacher and len(teacher[i].passages)) / len(ids)
