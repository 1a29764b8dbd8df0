"""Teacher rankings read from `uniret retrieve` prediction files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from uniret.errors import InputError
from uniret.training.teacher import coverage, load_teacher


def _prediction(qid: str, hits: list[tuple[int, float]]) -> dict:
    provenance = [{"wikipedia_id": "1", "passage_id": p, "score": s} for p, s in hits]
    return {"id": qid, "input": "q", "output": [{"provenance": provenance}]}


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_teacher_lists_keep_order_and_depth(tmp_path: Path) -> None:
    folder = tmp_path / "teacher"
    folder.mkdir()
    _write(folder / "a-train-kilt.jsonl", [_prediction("a-1", [(5, 0.9), (3, 0.4), (7, 0.1)])])
    _write(folder / "b-train-kilt.jsonl", [_prediction("b-1", [(2, 1.5)])])
    teacher = load_teacher(folder, depth=2)
    assert teacher["a-1"].passages.tolist() == [5, 3]
    assert np.allclose(teacher["a-1"].scores, [0.9, 0.4])
    assert teacher["b-1"].passages.tolist() == [2]
    assert coverage(teacher, ["a-1", "b-1", "c-1", "d-1"]) == 0.5


def test_teacher_without_passage_ids_names_file_line_and_field(tmp_path: Path) -> None:
    bad = _prediction("a-2", [(1, 0.5)])
    del bad["output"][0]["provenance"][0]["passage_id"]
    path = _write(tmp_path / "a-train-kilt.jsonl", [_prediction("a-1", [(1, 0.5)]), bad])
    with pytest.raises(InputError) as error:
        load_teacher(path, depth=10)
    assert (error.value.line, error.value.field) == (2, "output[0].provenance[0]")
    assert str(path) in str(error.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no \*\.jsonl"):
        load_teacher(tmp_path / "empty", depth=10)


def test_distillation_and_sibling_mask_settings_are_checked() -> None:
    from uniret.training.config import TrainConfig

    assert TrainConfig(mode="full", query_mode="shared", distill="teacher").distill
    with pytest.raises(ValueError, match="distill_temperature > 0"):
        TrainConfig(index="i", distill="teacher", distill_temperature=0.0)
    with pytest.raises(ValueError, match="sibling_mask applies"):
        TrainConfig(index="i", query_side_loss="approx", sibling_mask=True)
    assert TrainConfig(index="i", sibling_mask=True, distill="t").sibling_mask
