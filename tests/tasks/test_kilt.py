from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TASKS, write_jsonl
from uniret.errors import InputError
from uniret.tasks.kilt import TaskFile, find_task_files, read_examples, write_examples


def test_read_write_round_trip(kilt_dir: Path, tmp_path: Path) -> None:
    examples = read_examples(kilt_dir / "trex-dev-kilt.jsonl")
    assert [e.id for e in examples] == ["t1", "t2"]
    assert examples[0].outputs[0].provenance[0].start_paragraph_id == 2
    assert examples[0].answers == ["Warsaw"]
    out = tmp_path / "copy-dev-kilt.jsonl"
    write_examples(out, examples)
    assert read_examples(out) == examples
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert written[0]["output"] == TASKS["trex-dev-kilt.jsonl"][0]["output"]


def test_task_and_split_from_file_name(kilt_dir: Path) -> None:
    info = TaskFile.from_path("/x/structured_zeroshot-test_without_answers-kilt.jsonl")
    assert (info.task, info.split) == ("structured_zeroshot", "test_without_answers")
    assert [f.task for f in find_task_files(kilt_dir, "dev")] == ["cfever", "hotpotqa", "trex"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"input": "q"}, "id"),
        ({"id": "1"}, "input"),
        ({"id": "1", "input": 3}, "input"),
        ({"id": "1", "input": "q", "output": {}}, "output"),
        ({"id": "1", "input": "q", "output": [{"answer": 5}]}, "output[0].answer"),
        (
            {"id": "1", "input": "q", "output": [{"provenance": [{"title": "x"}]}]},
            "output[0].provenance[0].wikipedia_id",
        ),
        (
            {
                "id": "1",
                "input": "q",
                "output": [{"provenance": [{"wikipedia_id": "1", "start_paragraph_id": "2"}]}],
            },
            "output[0].provenance[0].start_paragraph_id",
        ),
    ],
)
def test_invalid_record_names_field(tmp_path: Path, record: dict, field: str) -> None:
    path = write_jsonl(tmp_path / "x-dev-kilt.jsonl", [{"id": "0", "input": "ok"}, record])
    with pytest.raises(InputError) as err:
        read_examples(path)
    assert (err.value.line, err.value.field) == (2, field)


def test_duplicate_ids_and_skip_invalid(tmp_path: Path) -> None:
    path = tmp_path / "x-dev-kilt.jsonl"
    path.write_text('{"id": "a", "input": "q"}\nnot json\n{"id": "a", "input": "again"}\n')
    with pytest.raises(InputError, match="line 2"):
        read_examples(path)
    assert [e.input for e in read_examples(path, skip_invalid=True)] == ["q"]


def test_gzipped_files_read_like_plain_ones(kilt_dir: Path, tmp_path: Path) -> None:
    import gzip

    from uniret.corpus.knowledge import ReadStats, iter_pages
    from uniret.evaluation.evaluate import pair_files

    packed = tmp_path / "packed"
    packed.mkdir()
    for plain in kilt_dir.iterdir():
        (packed / (plain.name + ".gz")).write_bytes(gzip.compress(plain.read_bytes()))
    files = find_task_files(packed, "dev")
    assert [(f.task, f.name) for f in files] == [
        ("cfever", "cfever-dev-kilt.jsonl"),
        ("hotpotqa", "hotpotqa-dev-kilt.jsonl"),
        ("trex", "trex-dev-kilt.jsonl"),
    ]
    assert read_examples(files[2].path) == read_examples(kilt_dir / "trex-dev-kilt.jsonl")
    plain_stats, packed_stats = ReadStats(), ReadStats()
    pages = list(iter_pages(kilt_dir / "knowledge.jsonl", stats=plain_stats))
    assert list(iter_pages(packed / "knowledge.jsonl.gz", stats=packed_stats)) == pages
    assert packed_stats.sha256 == plain_stats.sha256  # same corpus hash, same cached indexes
    pairs = pair_files(packed, kilt_dir)  # gold .gz matched with plain predictions by name
    assert [(g.name, p.name) for g, p in pairs] == [
        (f"{task}-dev-kilt.jsonl.gz", f"{task}-dev-kilt.jsonl")
        for task in ("cfever", "hotpotqa", "trex")
    ]
