"""Read, validate and write KILT task files (``<task>-<split>-kilt.jsonl``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uniret.errors import InputError
from uniret.io import iter_jsonl, write_jsonl
from uniret.types import Example, Output, Provenance

logger = logging.getLogger(__name__)

SUFFIX = "-kilt.jsonl"
GZ = ".gz"


@dataclass(frozen=True)
class TaskFile:
    """A KILT task file and what its name says: ``<task>-<split>-kilt.jsonl`` (or ``.jsonl.gz``)."""

    path: Path
    task: str
    split: str

    @classmethod
    def from_path(cls, path: str | Path) -> TaskFile:
        """Parse the task and split from the file name (``nq-dev-kilt.jsonl`` -> nq, dev)."""
        p = Path(path)
        name = p.name.removesuffix(GZ)
        stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else Path(name).stem
        task, _, split = stem.rpartition("-")
        if not task:
            task, split = stem, ""
        return cls(p, task, split)

    @property
    def name(self) -> str:
        """The plain file name (``.gz`` dropped): predictions of this file are written under it."""
        return self.path.name.removesuffix(GZ)


def find_task_files(folder: str | Path, split: str | None = None) -> list[TaskFile]:
    """All task files (``*-kilt.jsonl``, or ``*-kilt.jsonl.gz`` where no plain copy exists) in
    ``folder``, optionally of one split, sorted by name."""
    paths = {p.name: p for p in Path(folder).glob(f"*{SUFFIX}{GZ}")}
    paths.update({p.name + GZ: p for p in Path(folder).glob(f"*{SUFFIX}")})
    files = [TaskFile.from_path(paths[n]) for n in sorted(paths)]
    return [f for f in files if split is None or f.split == split]


def _opt_int(value: Any, path: Path | str, line: int, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(path, line, field, f"expected an integer, got {value!r}")
    return value


def parse_example(record: dict[str, Any], path: Path | str, line: int) -> Example:
    """Validate one KILT record; raise InputError naming the bad field."""
    if "id" not in record:
        raise InputError(path, line, "id", "missing")
    if not isinstance(record["id"], str | int) or isinstance(record["id"], bool):
        raise InputError(path, line, "id", "expected a string")
    if "input" not in record:
        raise InputError(path, line, "input", "missing")
    if not isinstance(record["input"], str):
        raise InputError(path, line, "input", "expected a string")
    raw_outputs = record.get("output", [])
    if not isinstance(raw_outputs, list):
        raise InputError(path, line, "output", "expected a list")
    outputs = []
    for i, out in enumerate(raw_outputs):
        if not isinstance(out, dict):
            raise InputError(path, line, f"output[{i}]", "expected an object")
        answer = out.get("answer", "")
        if answer is None:
            answer = ""
        if not isinstance(answer, str):
            raise InputError(path, line, f"output[{i}].answer", "expected a string")
        raw_prov = out.get("provenance", [])
        if not isinstance(raw_prov, list):
            raise InputError(path, line, f"output[{i}].provenance", "expected a list")
        provenance = []
        for j, prov in enumerate(raw_prov):
            field = f"output[{i}].provenance[{j}]"
            if not isinstance(prov, dict):
                raise InputError(path, line, field, "expected an object")
            wid = prov.get("wikipedia_id")
            if wid is None:
                raise InputError(path, line, f"{field}.wikipedia_id", "missing")
            if not isinstance(wid, str | int) or isinstance(wid, bool):
                raise InputError(path, line, f"{field}.wikipedia_id", "expected a string")
            title = prov.get("title") or ""
            if not isinstance(title, str):
                raise InputError(path, line, f"{field}.title", "expected a string")
            provenance.append(
                Provenance(
                    wikipedia_id=str(wid).strip(),
                    title=title,
                    start_paragraph_id=_opt_int(
                        prov.get("start_paragraph_id"), path, line, f"{field}.start_paragraph_id"
                    ),
                    end_paragraph_id=_opt_int(
                        prov.get("end_paragraph_id"), path, line, f"{field}.end_paragraph_id"
                    ),
                )
            )
        outputs.append(Output(answer=answer, provenance=tuple(provenance)))
    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise InputError(path, line, "meta", "expected an object")
    return Example(
        id=str(record["id"]).strip(), input=record["input"], outputs=tuple(outputs), meta=meta
    )


def iter_examples(path: str | Path, *, skip_invalid: bool = False) -> Iterator[Example]:
    """Stream validated examples; with ``skip_invalid`` bad lines are logged and skipped."""
    skipped = 0
    seen: set[str] = set()
    for line, record in iter_jsonl(path, skip_invalid=skip_invalid):
        try:
            example = parse_example(record, path, line)
            if example.id in seen:
                raise InputError(path, line, "id", f"duplicate id {example.id!r}")
        except InputError as exc:
            if not skip_invalid:
                raise
            skipped += 1
            logger.warning("skipping %s", exc)
            continue
        seen.add(example.id)
        yield example
    if skipped:
        logger.warning("%s: skipped %d invalid line(s)", path, skipped)


def read_examples(path: str | Path, *, skip_invalid: bool = False) -> list[Example]:
    """All validated examples of a task file."""
    return list(iter_examples(path, skip_invalid=skip_invalid))


def example_to_record(example: Example) -> dict[str, Any]:
    """The KILT JSON form of an example."""
    record: dict[str, Any] = {
        "id": example.id,
        "input": example.input,
        "output": [
            {
                "answer": o.answer,
                "provenance": [
                    {k: v for k, v in vars(p).items() if v is not None} for p in o.provenance
                ],
            }
            for o in example.outputs
        ],
    }
    if example.meta:
        record["meta"] = example.meta
    return record


def write_examples(path: str | Path, examples: Iterable[Example]) -> int:
    """Write examples as a KILT task file, atomically."""
    return write_jsonl(path, (example_to_record(e) for e in examples))
