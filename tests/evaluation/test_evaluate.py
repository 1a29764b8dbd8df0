"""File-level evaluation: pairing, averaging, missing and malformed predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write_jsonl
from uniret.errors import InputError
from uniret.evaluation.evaluate import EvalConfig, evaluate_file, macro_average, pair_files
from uniret.evaluation.tables import format_table

GOLD = [
    {"id": "a", "input": "q1", "output": [{"provenance": [{"wikipedia_id": "1"}]}]},
    {"id": "b", "input": "q2", "output": [{"provenance": [{"wikipedia_id": "2"}]}]},
    {"id": "c", "input": "q3", "output": [{"answer": "no evidence"}]},
]


def _pred(qid: str, *ids: str) -> dict:
    return {"id": qid, "output": [{"provenance": [{"wikipedia_id": w} for w in ids]}]}


def test_average_over_every_gold_example(tmp_path: Path) -> None:
    gold = write_jsonl(tmp_path / "x-dev-kilt.jsonl", GOLD)
    # a: right at rank 1; b: right at rank 2; c: has no evidence and still counts (scores 0)
    pred = write_jsonl(
        tmp_path / "p.jsonl", [_pred("a", "1"), _pred("b", "9", "2"), _pred("c", "1")]
    )
    report = evaluate_file(gold, pred, EvalConfig(ks=(1, 2)))
    assert report.queries == 3
    assert report.metrics["Rprec"] == pytest.approx(1 / 3)
    assert report.metrics["success_rate@2"] == pytest.approx(2 / 3)
    assert report.per_query["Rprec"] == [1.0, 0.0, 0.0]


def test_missing_predictions_are_an_error_unless_allowed(tmp_path: Path) -> None:
    gold = write_jsonl(tmp_path / "x-dev-kilt.jsonl", GOLD)
    pred = write_jsonl(tmp_path / "p.jsonl", [_pred("a", "1")])
    with pytest.raises(InputError, match="2 of 3 gold ids have no prediction"):
        evaluate_file(gold, pred)
    report = evaluate_file(gold, pred, EvalConfig(ks=(1,), allow_missing=True))
    assert report.missing == 2
    assert report.metrics["precision@1"] == pytest.approx(1 / 3)


def test_malformed_prediction_names_line_and_field(tmp_path: Path) -> None:
    gold = write_jsonl(tmp_path / "x-dev-kilt.jsonl", GOLD)
    pred = tmp_path / "p.jsonl"
    pred.write_text(json.dumps(_pred("a", "1")) + "\n" + json.dumps({"id": "b"}) + "\n")
    with pytest.raises(InputError) as err:
        evaluate_file(gold, pred)
    assert err.value.line == 2 and err.value.field == "output"
    assert "p.jsonl, line 2" in str(err.value)


def test_unknown_prediction_id(tmp_path: Path) -> None:
    gold = write_jsonl(tmp_path / "x-dev-kilt.jsonl", GOLD)
    pred = write_jsonl(tmp_path / "p.jsonl", [_pred("zz", "1")])
    with pytest.raises(InputError, match="'zz' is not in"):
        evaluate_file(gold, pred)


def test_folders_pair_by_file_name_and_table(tmp_path: Path) -> None:
    (tmp_path / "gold").mkdir()
    (tmp_path / "pred").mkdir()
    for task in ("aa", "bb"):
        write_jsonl(tmp_path / "gold" / f"{task}-dev-kilt.jsonl", GOLD[:1])
    write_jsonl(tmp_path / "pred" / "aa-dev-kilt.jsonl", [_pred("a", "1")])
    write_jsonl(tmp_path / "pred" / "bb-dev-kilt.jsonl", [_pred("a", "2")])
    pairs = pair_files(tmp_path / "gold", tmp_path / "pred")
    reports = [evaluate_file(g, p, EvalConfig(ks=(5,))) for g, p in pairs]
    assert [r.name for r in reports] == ["aa", "bb"]
    table = format_table(reports, columns=("Rprec",))
    assert table.splitlines() == [
        "| task | queries | Rprec |",
        "|---|---:|---:|",
        "| aa | 1 | 100.0 |",
        "| bb | 1 | 0.0 |",
        "| **macro** | 2 | **50.0** |",
    ]


def test_dev_and_test_files_are_named_by_split_with_a_macro_each(tmp_path: Path) -> None:
    (tmp_path / "gold").mkdir()
    (tmp_path / "pred").mkdir()
    for name, pid in [("aa-dev", "1"), ("bb-dev", "2"), ("aa-test", "1"), ("bb-test", "1")]:
        write_jsonl(tmp_path / "gold" / f"{name}-kilt.jsonl", GOLD[:1])
        write_jsonl(tmp_path / "pred" / f"{name}-kilt.jsonl", [_pred("a", pid)])
    reports = [
        evaluate_file(g, p, EvalConfig(ks=(5,)))
        for g, p in pair_files(tmp_path / "gold", tmp_path / "pred")
    ]
    assert format_table(reports, columns=("Rprec",)).splitlines()[2:] == [
        "| aa (dev) | 1 | 100.0 |",
        "| aa (test) | 1 | 100.0 |",
        "| bb (dev) | 1 | 0.0 |",
        "| bb (test) | 1 | 100.0 |",
        "| **macro (dev)** | 2 | **50.0** |",
        "| **macro (test)** | 2 | **100.0** |",
    ]
    macro = macro_average(reports)
    assert macro["dev"]["Rprec"] == 0.5 and macro["test"]["Rprec"] == 1.0
