"""The command line end to end on the fixture benchmark: real files, real indexes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import cli_corpus_and_bm25
from uniret.cli import main


def test_corpus_index_retrieve_evaluate(kilt_dir: Path, tmp_path: Path, capsys) -> None:
    passages, index, preds = tmp_path / "passages", tmp_path / "bm25", tmp_path / "preds"
    cli_corpus_and_bm25(kilt_dir, passages, index, "--words", "10")
    inputs = sorted(str(p) for p in kilt_dir.glob("*-dev-kilt.jsonl"))
    assert (
        main(
            [
                "-q",
                "retrieve",
                "--index",
                str(index),
                "--input",
                *inputs,
                "--k",
                "5",
                "--out",
                str(preds),
            ]
        )
        == 0
    )
    record = json.loads((preds / "trex-dev-kilt.jsonl").read_text().splitlines()[0])
    top = record["output"][0]["provenance"]
    assert record["id"] == "t1" and 0 < len(top) <= 5
    assert set(top[0]) >= {"wikipedia_id", "title", "text", "score", "passage_id"}
    assert [p["score"] for p in top] == sorted((p["score"] for p in top), reverse=True)
    capsys.readouterr()
    out_json = tmp_path / "metrics.json"
    assert (
        main(["evaluate", "--gold", str(kilt_dir), "--pred", str(preds), "--json", str(out_json)])
        == 0
    )
    table = capsys.readouterr().out
    assert "| trex | 2 |" in table and "**macro**" in table
    metrics = json.loads(out_json.read_text())
    assert [t["name"] for t in metrics["tasks"]] == ["cfever", "hotpotqa", "trex"]
    assert metrics["tasks"][2]["metrics"]["success_rate@5"] == 1.0  # both trex pages found


def test_bad_task_line_is_reported_and_nothing_written(
    kilt_dir: Path, tmp_path: Path, capsys
) -> None:
    passages, index = tmp_path / "passages", tmp_path / "bm25"
    cli_corpus_and_bm25(kilt_dir, passages, index)
    bad = tmp_path / "trex-dev-kilt.jsonl"
    bad.write_text('{"id": "1", "input": "ok"}\n{"id": "2"}\n')
    code = main(
        ["-q", "retrieve", "--index", str(index), "--input", str(bad), "--out", str(tmp_path / "p")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "trex-dev-kilt.jsonl, line 2: field 'input': missing" in err
    assert not (tmp_path / "p" / "trex-dev-kilt.jsonl").exists()


def test_unknown_task_is_a_clear_error(kilt_dir: Path, tmp_path: Path, capsys) -> None:
    odd = tmp_path / "mystery-dev-kilt.jsonl"
    odd.write_text('{"id": "1", "input": "q"}\n')
    assert (
        main(
            [
                "-q",
                "retrieve",
                "--index",
                str(tmp_path),
                "--input",
                str(odd),
                "--out",
                str(tmp_path / "preds"),
            ]
        )
        == 2
    )
    assert "unknown task 'mystery'" in capsys.readouterr().err


def test_quickstart_runs_and_reuses_artifacts(kilt_dir: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    cmd = [
        "-q",
        "quickstart",
        "--data",
        str(kilt_dir),
        "--work",
        str(work),
        "--k",
        "10",
        "--bm25-only",
    ]
    assert main(cmd) == 0
    first = capsys.readouterr().out
    assert "| hotpotqa |" in first and "| BM25 |" in first
    stamp = (work / "shared" / "index-bm25" / "meta.json").stat().st_mtime_ns
    assert main(cmd) == 0
    # reused, not rebuilt
    assert (work / "shared" / "index-bm25" / "meta.json").stat().st_mtime_ns == stamp
    assert capsys.readouterr().out.split("done in")[0] == first.split("done in")[0]


def test_quickstart_full_pipeline_with_tiny_model(
    tiny_model: str, kilt_dir: Path, tmp_path: Path, capsys
) -> None:
    import shutil

    for dev in kilt_dir.glob("*-dev-kilt.jsonl"):
        shutil.copy(dev, kilt_dir / dev.name.replace("-dev-", "-train-"))
    cfg = tmp_path / "train.toml"
    cfg.write_text('mode = "query_side"\nindex = "set-by-quickstart"\nepochs = 1\nbatch_size = 2\n')
    work = tmp_path / "work"
    cmd = [
        "-q",
        "quickstart",
        "--data",
        str(kilt_dir),
        "--work",
        str(work),
        "--k",
        "5",
        "--model",
        tiny_model,
        "--train-config",
        str(cfg),
    ]
    assert main(cmd) == 0
    out = capsys.readouterr().out
    for column in ("BM25", "base (zero-shot)", "BM25 + base", "multi-task (query side)"):
        assert f" {column} |" in out
    log = work / "cells" / "multi-task" / "model" / "train_log.json"
    trained = log.stat().st_mtime_ns
    assert main(cmd) == 0  # rerun: nothing retrained
    assert log.stat().st_mtime_ns == trained
    assert capsys.readouterr().out.split("done in")[0] == out.split("done in")[0]
    # every system of the table is a bundle: `retrieve --retriever` reproduces its predictions
    bundles = sorted(p.name for p in (work / "retrievers").glob("*.json"))
    assert bundles == [
        "base.json",
        "bm25+base.json",
        "bm25+multi-task.json",
        "bm25.json",
        "multi-task.json",
    ]
    dev = str(kilt_dir / "trex-dev-kilt.jsonl")
    bundle = str(work / "retrievers" / "bm25+multi-task.json")
    argv = ["-q", "retrieve", "--retriever", bundle, "--input", dev, "--out", str(tmp_path / "p")]
    assert main([*argv, "--k", "5"]) == 0
    ours = (tmp_path / "p" / "trex-dev-kilt.jsonl").read_text()
    assert ours == (work / "cells" / "bm25+multi-task" / "pred" / "trex-dev-kilt.jsonl").read_text()


def test_quickstart_recipe_full_round_interpolation_and_query_side_stage(
    tiny_model: str, kilt_dir: Path, tmp_path: Path, capsys
) -> None:
    import shutil

    for dev in kilt_dir.glob("*-dev-kilt.jsonl"):
        shutil.copy(dev, kilt_dir / dev.name.replace("-dev-", "-train-"))
    cfg = tmp_path / "full.toml"
    cfg.write_text('mode = "full"\nquery_mode = "shared"\nepochs = 1\nbatch_size = 2\n')
    query_side = tmp_path / "query-side.toml"
    query_side.write_text('mode = "query_side"\nepochs = 1\nbatch_size = 2\nlr = 1e-3\n')
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f"""[recipe]
train_config = "{cfg}"

[[cell]]
name = "round1"
labels = {{ study = "main", system = "round 1" }}
train = {{ hard_negatives = 2, lr = 1e-3 }}

[[cell]]
name = "mixed"
model = "round1"
base_weight = 0.5
labels = {{ study = "main", system = "mixed" }}

[[cell]]
name = "universal"
init = "mixed"
train_config = "{query_side}"
labels = {{ study = "main", system = "universal" }}
train = {{}}

[[cell]]
name = "bm25+universal"
system = "hybrid"
model = "universal"
fusion = {{ weights = [0.5, 1] }}
labels = {{ study = "main", system = "BM25 + universal" }}
"""
    )
    work = tmp_path / "work"
    argv = ["-q", "quickstart", "--data", str(kilt_dir), "--work", str(work), "--k", "5"]
    argv += ["--model", tiny_model, "--recipe", str(recipe)]
    assert main([*argv, "--only", "nothing"]) == 2
    assert "matches no cell" in capsys.readouterr().err and not work.exists()
    # --only: that cell and the cells it builds on, nothing else
    assert main([*argv, "--only", "mixed"]) == 0
    first = json.loads((work / "results.json").read_text())["cells"]
    assert sorted(first) == ["mixed", "round1"]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    for column in ("BM25 + base", "round 1", "mixed", "universal", "BM25 + universal"):
        assert f" {column} |" in out
    assert "multi-task (query side)" not in out
    results = json.loads((work / "results.json").read_text())
    assert results["cells"]["round1"]["train"]["config"]["mode"] == "full"
    assert results["cells"]["mixed"]["finished"] == first["mixed"]["finished"]  # cached
    assert results["cells"]["universal"]["train"]["config"]["mode"] == "query_side"
    # the interpolated model has its own weights and its own re-encoded index
    cells = work / "cells"
    assert (cells / "mixed" / "index").is_dir() and (cells / "mixed" / "model").is_dir()
    bundles = sorted(p.stem for p in (work / "retrievers").glob("*.json"))
    assert {"round1", "mixed", "universal", "bm25+universal"} <= set(bundles)

    def weights(cell: str, tower: str) -> dict[str, torch.Tensor]:
        return load_file(str(cells / cell / "model" / tower / "model.safetensors"))

    a, b = weights("round1", "passage"), weights("mixed", "passage")
    assert any(not torch.equal(a[k], b[k]) for k in a)
    # the query-side stage searches the interpolated model's index with that model's passage
    # tower and a query tower trained on from it
    for name in ("universal", "bm25+universal"):
        bundle = json.loads((work / "retrievers" / f"{name}.json").read_text())
        index = work / "retrievers" / bundle["indexes"][-1]
        assert index.resolve() == (cells / "mixed" / "index").resolve()
    assert bundle["fusion"]["method"] == "weighted" and bundle["fusion"]["weights"] == [0.5, 1]
    passage, query = weights("universal", "passage"), weights("universal", "query/default")
    assert all(torch.equal(passage[k], b[k]) for k in b)
    assert any(not torch.equal(query[k], b[k]) for k in b)


def test_experiment_run_dry_run_report_and_publish(
    kilt_dir: Path, tmp_path: Path, tiny_model: str, capsys
) -> None:
    from tests.experiments.test_runner import _experiment

    spec = _experiment(tmp_path, kilt_dir, tiny_model)
    work = tmp_path / "work"
    assert main(["-q", "experiment", "run", str(spec), "--out", str(work), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "new      bm25" in out and "4 cells: 0 cached, 0 partial, 4 to run" in out
    assert main(["experiment", "run", str(spec), "--out", str(work), "--only", "b*"]) == 0
    out = capsys.readouterr().out
    assert "[done]   bm25" in out and "[done]   base" in out and "multitask" not in out
    assert "2 of 4 cells have results" in out and (work / "RESULTS.md").is_file()
    assert main(["-q", "experiment", "run", str(spec), "--out", str(work), "--dry-run"]) == 0
    assert "cached   bm25" in capsys.readouterr().out
    assert main(["experiment", "run", str(spec), "--out", str(work), "--only", "nothing"]) == 2
    assert "matches no cell" in capsys.readouterr().err
    # publish targets come from the file's [report] table
    text = spec.read_text()
    spec.write_text(
        text.replace(
            "[[cell]]",
            f'[report]\nresults_dir = "{tmp_path / "pub"}"\nmarkdown = "{tmp_path / "R.md"}"\n'
            "\n[[cell]]",
            1,
        )
    )
    assert main(["-q", "experiment", "report", "--out", str(work), "--publish"]) == 0
    assert not (tmp_path / "R.md").exists()  # report reads results.json, written before
    assert (
        main(
            [
                "-q",
                "experiment",
                "run",
                str(spec),
                "--out",
                str(work),
                "--only",
                "bm25",
                "--publish",
            ]
        )
        == 0
    )
    assert "| **macro** |" in (tmp_path / "R.md").read_text()
    assert (tmp_path / "pub" / "results.json").is_file()
    # a cell run from uncommitted code is never published
    results = json.loads((work / "results.json").read_text())
    results["cells"]["base"]["commit"] = "0123abc+dirty"
    (work / "results.json").write_text(json.dumps(results))
    (tmp_path / "R.md").unlink()
    assert main(["-q", "experiment", "report", "--out", str(work), "--publish"]) == 2
    assert "1 cells ran from a tree with uncommitted changes (base)" in capsys.readouterr().err
    assert not (tmp_path / "R.md").exists()


def test_quickstart_on_the_openvino_backend(
    tiny_model: str, kilt_dir: Path, tmp_path: Path, capsys
) -> None:
    pytest.importorskip("openvino")
    work = tmp_path / "work"
    argv = ["-q", "quickstart", "--data", str(kilt_dir), "--work", str(work), "--k", "5",
            "--model", tiny_model, "--no-train", "--backend", "openvino"]  # fmt: skip
    assert main(argv) == 0
    assert "| base (zero-shot) |" in capsys.readouterr().out
    meta = json.loads((work / "shared" / "index-base" / "meta.json").read_text())
    assert meta["encoder"]["backend"] == "openvino"
    assert (work / "shared" / "emb-base-openvino").is_dir()
