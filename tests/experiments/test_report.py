"""Tables, comparisons and the page written from a small fixed results.json (data/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uniret.evaluation.significance import paired_bootstrap, seed_bootstrap
from uniret.experiments import report
from uniret.io import read_json

RESULTS = Path(__file__).parent / "data" / "results.json"


@pytest.fixture
def results() -> dict:
    return read_json(RESULTS)


def test_main_table_merges_per_task_cells_into_one_column(results: dict) -> None:
    # BM25 a: [1,0,0,1] -> 50.0, b: [1,0] -> 50.0; task-specific: single-a 100.0, single-b 50.0;
    # multi-task a: [1,1,0,1] -> 75.0, b: [1,1] -> 100.0; macro = mean of the two tasks
    assert report.main_table(results, "Rprec") == (
        "| task | BM25 | task-specific | multi-task |\n"
        "|---|---:|---:|---:|\n"
        "| a | 50.0 | 100.0 | 75.0 |\n"
        "| b | 50.0 | 50.0 | 100.0 |\n"
        "| **macro** | **50.0** | **75.0** | **87.5** |"
    )
    # the fixture's recall@5 is its R-precision + 25, capped at 100
    assert report.main_table(results, "recall@5").splitlines()[2] == "| a | 75.0 | 100.0 | 100.0 |"


def test_cells_table_shows_every_cell_for_runs_without_a_main_study(results: dict) -> None:
    fewshot = {n: c for n, c in results["cells"].items() if c["labels"]["study"] == "fewshot"}
    assert report.main_systems({**results, "cells": fewshot}) == {}
    lines = report.cells_table({**results, "cells": fewshot}).splitlines()
    assert lines[0] == "| cell | a | **macro** |"
    assert lines[2:4] == ["| loo-a | 50.0 | **50.0** |", "| fs-a-base-s0 | 25.0 | **25.0** |"]
    assert len(lines) == 2 + len(fewshot)
    # a cell without some task gets a dash there and no macro
    lines = report.cells_table(results).splitlines()
    assert lines[0] == "| cell | a | b | **macro** |"
    assert "| single-a | 100.0 | – | – |" in lines
    assert "| multitask | 75.0 | 100.0 | **87.5** |" in lines


def test_comparison_table_rows_and_intervals(results: dict) -> None:
    lines = report.comparison_table(results).splitlines()
    assert lines[0] == "| A − B (R-prec points) | a | b | macro | seed sd of macro (A / B) |"
    assert len(lines) == 4  # the pair naming a system without cells is left out
    mt_bm25 = lines[2].split(" | ")
    assert mt_bm25[0] == "| multi-task − BM25"
    assert mt_bm25[1].startswith("+25.0 [")  # a: differences [0,1,0,0]
    assert mt_bm25[2].startswith("+50.0 [")  # b: differences [0,1]
    assert mt_bm25[3].startswith("+37.5 [")  # macro: (25 + 50) / 2
    assert (
        lines[3]
        == "| multi-task − multi-task | +0.0 [+0.0, +0.0] | +0.0 [+0.0, +0.0] | +0.0 [+0.0, +0.0] "
        "| 1 run / 1 run |"
    )


def test_fewshot_table_seed_spread_and_zero_shot(results: dict) -> None:
    table = report.fewshot_table(results, "a").splitlines()
    assert table[0] == (
        "| k | base | multi-task (without the task) | multi-task (without the task) − base |"
    )
    assert table[2] == "| 0 | – | 50.0 | – |"  # no base system in this file: no k = 0 for it
    # base seeds 25.0 and 50.0 -> 37.5 ± 17.7; multi-task seeds 75.0, 75.0; the difference of
    # seed-averaged per-query scores: [1,1,.5,.5] − [1,.5,0,0] = [0,.5,.5,.5] -> +37.5
    assert table[3].startswith("| 16 | 37.5 ± 17.7 (2) | 75.0 ± 0.0 (2) | +37.5 [")
    # the interval redraws the two seeds of each start as well as the queries: the base
    # seeds' means differ (25 and 50), the multi-task ones' do not, so it is wider than the
    # one over the queries of the seed means alone
    runs = [[1, 1, 1, 0], [1, 1, 0, 1]], [[1, 0, 0, 0], [1, 1, 0, 0]]
    both = seed_bootstrap([runs], samples=results["bootstrap"])
    queries = paired_bootstrap([([1, 1, 0.5, 0.5], [1, 0.5, 0, 0])], samples=results["bootstrap"])
    assert table[3].endswith(f"| {report.signed(both)} |")
    assert both.low < queries.low and both.high > queries.high
    # still above 0: the one task compared is a significant win
    assert report.fewshot_wins(results) == {16: (1, 1, 1)}


def test_downstream_and_timing(results: dict) -> None:
    assert report.downstream_table(results) == (
        "| task @k | BM25 | multi-task |\n"
        "|---|---:|---:|\n"
        "| a @1 | 25.0 | 37.5 |\n"
        "| a @5 | 50.0 | 75.0 |"
    )
    table, totals = report.timing_table(results)
    assert totals == {"query side": 127.0, "full": 0.0}
    assert "| fewshot | 4 | 0.2 | 3 |" in table


def test_intervals_redraw_each_systems_runs_as_whole_models_or_task_by_task(
    results: dict,
) -> None:
    second = json.loads(json.dumps(results["cells"]["multitask"]))
    second["labels"]["seed"] = 1
    second["results"]["a"]["per_query"]["Rprec"] = [1, 0, 0, 0]
    second["results"]["b"]["per_query"]["Rprec"] = [0, 1]
    results["cells"]["multitask-s1"] = second
    runs = report.main_runs(results)
    # one entry per cell: the multi-task seeds hold both tasks, the task-specific cells one
    assert [sorted(r) for r in runs["multi-task"]] == [["a", "b"], ["a", "b"]]
    assert [sorted(r) for r in runs["task-specific"]] == [["a"], ["b"]]
    groups = [
        ([[1, 1, 0, 1], [1, 0, 0, 0]], [[1, 1, 1, 1]]),  # a: multi-task seeds, single-a
        ([[1, 1], [0, 1]], [[0, 1]]),  # b: multi-task seeds, single-b
    ]
    want = seed_bootstrap(groups, joint=(True, False), samples=1000)  # seeds drawn once
    got = report.compare(runs["multi-task"], runs["task-specific"], ["a", "b"])
    assert got == want
    assert got != seed_bootstrap(groups, samples=1000)  # not task by task
    row = report.comparison_table(results).splitlines()[-1]
    assert row.startswith("| multi-task − multi-task | +0.0 [")  # a system against itself
    line = next(x for x in report.claims(results) if x.startswith("- A multi-task retriever"))
    samples = results["bootstrap"]
    against_bm25 = report.compare(runs["multi-task"], runs["BM25"], ["a", "b"], samples=samples)
    assert f"macro R-prec: {report.signed(against_bm25)})" in line


def test_write_report_page_and_plots(results: dict, tmp_path: Path) -> None:
    results["report"]["results_dir"] = str(tmp_path / "published")
    results["report"]["markdown"] = str(tmp_path / "docs" / "RESULTS.md")
    written = report.write_report(results, tmp_path / "out", publish=True)
    names = {p.name for p in written}
    assert {"main.png", "fewshot-a.png", "RESULTS.md", "results.json"} <= names
    assert (tmp_path / "out" / "plots" / "fewshot-a.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "docs" / "RESULTS.md").read_text()
    assert "![a learning curve](../published/plots/fewshot-a.png)" in page
    assert report.main_table(results, "Rprec") in page
    assert "- A multi-task retriever beats BM25: **" in page
    assert "`full-multitask`" in page  # declared, not run
    assert read_json(tmp_path / "published" / "results.json")["cells"] == results["cells"]


def test_the_page_leaves_out_sections_a_file_has_nothing_for(results: dict) -> None:
    full = report.render(results, [], "")
    headings = ("## What holds on", "## Low data and zero-shot", "## Downstream proxy")
    assert all(h in full for h in headings)
    results["report"] = {"comparisons": results["report"]["comparisons"]}  # no claims, no ...
    results["cells"] = {  # ... downstream, no few-shot cells
        n: r for n, r in results["cells"].items() if r["labels"].get("study") != "fewshot"
    }
    bare = report.render(results, [], "")
    assert not any(h in bare for h in headings)
    assert "## Retrieval: R-precision" in bare and "## Compute" in bare


def test_claims_come_from_the_experiment_file(results: dict) -> None:
    results["report"]["claims"] = [
        {"a": "multi-task", "b": "BM25", "kind": "beats", "text": "MT beats BM25"},
        {"a": "multi-task", "b": "task-specific", "kind": "matches", "text": "MT matches TS"},
        {"a": "nobody", "b": "BM25", "kind": "beats", "text": "X", "missing": "not run"},
        {"a": "nobody", "b": "BM25", "kind": "beats", "text": "Y"},
    ]
    lines = report.claims(results)[:4]
    # multi-task − BM25: +37.5 macro (see the comparison table); task-specific is 75.0 vs 87.5
    assert lines[0].startswith("- MT beats BM25: ") and "+37.5 [" in lines[0]
    assert lines[1].startswith("- MT matches TS: **undecided** (no equivalence margin")
    assert "+12.5 [" in lines[1]
    # per task: where the macro difference comes from
    assert "Per task: A ahead on 2 of 2 tasks" in lines[0]
    assert lines[2] == "- X: not run."
    assert lines[3] == "- Y: not measured (cells missing)."
    results["report"]["claims"] = []
    assert not any(line.startswith("- MT") for line in report.claims(results))


def test_matches_needs_a_margin_on_the_lower_bound(results: dict) -> None:
    claim = {"a": "multi-task", "b": "task-specific", "kind": "matches", "text": "MT ~ TS"}
    results["report"]["claims"] = [claim]
    results["report"]["equivalence_margin"] = 0.5  # interval +12.5 [-25.0, +50.0]
    # and the margin it would hold with, rounded up to 0.01 point
    assert (
        "**fails** (lower bound below −0.5; it holds from a margin of 25.00)"
        in (report.claims(results)[0])
    )
    results["report"]["claims"] = [{**claim, "margin": 30}]
    assert "**holds** (lower bound above −30)" in report.claims(results)[0]


def test_seeds_are_averaged_and_their_spread_shown(results: dict) -> None:
    second = json.loads(json.dumps(results["cells"]["multitask"]))
    second["labels"]["seed"] = 1
    second["results"]["a"]["metrics"]["Rprec"] = 0.25  # seed 0: a 0.75, b 1.0 -> macro 0.875
    second["results"]["a"]["per_query"]["Rprec"] = [1, 0, 0, 0]  # seed 1: macro 0.625
    results["cells"]["multitask-s1"] = second
    table = report.main_table(results)
    assert "**75.0** ± 17.7 (2 seeds)" in table  # mean (0.875 + 0.625) / 2, sd 0.177
    rows = report.comparison_table(results).splitlines()
    assert rows[2].endswith("| 17.7 (2) / 1 run |")
    averaged = report.main_systems(results)["multi-task"]["a"]
    assert averaged["per_query"]["Rprec"] == [1.0, 0.5, 0.0, 0.5]


def test_zero_shot_counts_significant_wins(results: dict) -> None:
    base = json.loads(json.dumps(results["cells"]["bm25"]))
    base["labels"]["system"] = "base"
    base["results"]["a"]["per_query"]["Rprec"] = [0, 0, 0, 0]
    base["results"]["a"]["metrics"]["Rprec"] = 0.0
    results["cells"]["base"] = base
    loo = results["cells"]["loo-a"]["results"]["a"]
    loo["per_query"]["Rprec"] = [1, 1, 1, 1]
    line = next(x for x in report.claims(results) if x.startswith("- Zero-shot"))
    assert "ahead of the base model on 1 of 1 held-out tasks, significantly on 1; " in line
    loo["per_query"]["Rprec"] = [1, 0, 0, 0]  # ahead, within noise
    line = next(x for x in report.claims(results) if x.startswith("- Zero-shot"))
    assert "on 1 of 1 held-out tasks, significantly on 0; significantly behind on 0" in line


def _split(results: dict, names: list[str]) -> dict:
    return {**results, "cells": {n: results["cells"][n] for n in names}}


def test_merge_results_keeps_every_cell_once_in_first_seen_order(results: dict) -> None:
    a = _split(results, ["bm25", "single-a", "multitask"])
    b = _split(results, ["bm25", "single-b", "loo-a"])
    merged = report.merge_results([("a/results.json", a), ("b/results.json", b)])
    assert list(merged["cells"]) == ["bm25", "single-a", "multitask", "single-b", "loo-a"]
    assert merged["cells"]["single-b"] == results["cells"]["single-b"]
    assert merged["cells_declared"] == results["cells_declared"]
    assert report.main_table(merged) == report.main_table(_split(results, list(merged["cells"])))


def test_merge_results_refuses_other_keys_and_other_experiments(results: dict) -> None:
    from uniret.errors import InputError

    a = _split(results, ["bm25", "single-a"])
    b = _split(results, ["bm25"])
    b["cells"]["bm25"] = {**b["cells"]["bm25"], "key": "0000"}
    with pytest.raises(InputError, match=r"b\.json.*cells\.bm25\.key.*0000 here"):
        report.merge_results([("a.json", a), ("b.json", b)])
    other = {**_split(results, ["single-b"]), "split": "test"}
    with pytest.raises(InputError, match=r"field 'split'.*not the same experiment"):
        report.merge_results([("a.json", a), ("c.json", other)])


def test_merge_results_compares_the_benchmark_by_digest_where_recorded(results: dict) -> None:
    from uniret.errors import InputError

    a = {**_split(results, ["bm25"]), "data_dir": "/clone-a/kiltmini"}
    b = {**_split(results, ["single-a"]), "data_dir": "/clone-b/kiltmini"}
    # results written before the digests were recorded: the paths decide unless vouched for
    with pytest.raises(InputError, match=r"field 'data_dir'.*not the same experiment"):
        report.merge_results([("a.json", a), ("b.json", b)])
    vouched = report.merge_results([("a.json", a), ("b.json", b)], same_data=True)
    assert list(vouched["cells"]) == ["bm25", "single-a"]
    # with digests on both sides, other paths of the same files merge and other files do not
    digests = {"trex-dev-kilt.jsonl": "1234", "kilt_knowledgesource.json": "5678"}
    a, b = {**a, "data": digests}, {**b, "data": dict(digests)}
    assert list(report.merge_results([("a.json", a), ("b.json", b)])["cells"]) == [
        "bm25",
        "single-a",
    ]
    other = {**b, "data": {**digests, "trex-dev-kilt.jsonl": "9999"}}
    for same_data in (False, True):
        with pytest.raises(InputError, match=r"c\.json.*field 'data'.*not the same"):
            report.merge_results([("a.json", a), ("c.json", other)], same_data=same_data)


def test_experiment_merge_command(results: dict, tmp_path: Path, capsys) -> None:
    from uniret.cli import main

    for name, cells in (("w1", ["bm25", "single-a"]), ("w2", ["bm25", "fs-a-mt-s0"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_split(results, cells)))
    runs = [str(tmp_path / "w1"), str(tmp_path / "w2" / "results.json")]
    out = tmp_path / "merged"
    assert main(["experiment", "merge", *runs, "--out", str(out)]) == 0
    assert "3 cells from 2 runs" in capsys.readouterr().out
    merged = read_json(out / "results.json")
    assert merged["cells"] == _split(results, ["bm25", "single-a", "fs-a-mt-s0"])["cells"]
    # an existing merge is not replaced unless asked
    assert main(["experiment", "merge", *runs, "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["-q", "experiment", "merge", runs[0], "--out", str(out), "--overwrite"]) == 0
    assert list(read_json(out / "results.json")["cells"]) == ["bm25", "single-a"]
    assert main(["experiment", "merge", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    # runs over the benchmark at other paths, from results without its digests
    other = {**_split(results, ["single-b"]), "data_dir": "/elsewhere/kiltmini"}
    (tmp_path / "w3.json").write_text(json.dumps(other))
    runs = [runs[0], str(tmp_path / "w3.json")]
    assert main(["experiment", "merge", *runs, "--out", str(out), "--overwrite"]) == 2
    assert "data_dir" in capsys.readouterr().err
    assert (
        main(["-q", "experiment", "merge", *runs, "--out", str(out), "--overwrite", "--same-data"])
        == 0
    )
    assert list(read_json(out / "results.json")["cells"]) == ["bm25", "single-a", "single-b"]


def test_compare_averages_seeds_per_query_and_pairs_on_shared_tasks(
    results: dict, tmp_path: Path
) -> None:
    seeds = report.load_runs(f"{RESULTS}#fs-a-base-s*")
    assert len(seeds) == 2
    # several globs: the cells matching any of them, each once
    listed = report.load_runs(f"{RESULTS}#fs-a-base-s1,fs-a-base-s0,fs-a-base-s*")
    assert sorted(map(str, listed)) == sorted(map(str, seeds))
    base = report.average_system(seeds, "fs")
    # per query, the mean over the seeds ([1, 0, 0, 0] and [1, 1, 0, 0])
    assert base["a"]["per_query"]["Rprec"] == [1.0, 0.5, 0.0, 0.0]
    assert base["a"]["metrics"]["Rprec"] == pytest.approx(0.375)
    # a cell.json on disk reads like the results.json cell it is
    (tmp_path / "cell.json").write_text(json.dumps(results["cells"]["bm25"]))
    bm25 = report.average_system(report.load_runs(str(tmp_path / "c*.json")), "bm25")
    assert bm25 == results["cells"]["bm25"]["results"]
    text = report.comparison_report({"bm25": [bm25], "fs": seeds}, [("fs", "bm25")])
    assert "| fs (2 runs) | 37.5 | – | 37.5 |" in text
    assert "| bm25 | 50.0 | 50.0 | 50.0 |" in text
    # the interval redraws fs's two runs as well as the queries
    want = seed_bootstrap([([[1, 0, 0, 0], [1, 1, 0, 0]], [[1, 0, 0, 1]])], samples=1000)
    row = next(line for line in text.splitlines() if line.startswith("| fs − bm25"))
    assert row == f"| fs − bm25 | {report.signed(want)} | {report.signed(want)} | – |"
    # queries only: the paired bootstrap of the seed means
    text = report.comparison_report({"bm25": [bm25], "fs": seeds}, [("fs", "bm25")], seeds=False)
    want = paired_bootstrap([([1.0, 0.5, 0.0, 0.0], [1, 0, 0, 1])], samples=1000)
    row = next(line for line in text.splitlines() if line.startswith("| fs − bm25"))
    assert row == f"| fs − bm25 | {report.signed(want)} | {report.signed(want)} | – |"


def test_compare_sources_that_cannot_be_paired_name_file_and_field(
    results: dict, tmp_path: Path
) -> None:
    from uniret.errors import InputError

    with pytest.raises(InputError, match=r"results\.json: field 'cells': no cell matches 'nope\*'"):
        report.load_runs(f"{RESULTS}#nope*")
    with pytest.raises(InputError, match=r"nowhere\.json: no such file"):
        report.load_runs(str(tmp_path / "nowhere.json"))
    cell = {"results": {"a": {"metrics": {"Rprec": 0.5}, "per_query": {"recall@5": [1]}}}}
    (tmp_path / "old.json").write_text(json.dumps(cell))
    with pytest.raises(InputError, match=r"old\.json: field 'a\.per_query\.Rprec': missing"):
        report.load_runs(str(tmp_path / "old.json"))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InputError, match=r"list\.json: field 'results': no task results"):
        report.load_runs(str(tmp_path / "list.json"))
    short = {"a": {"metrics": {"Rprec": 1.0}, "per_query": {"Rprec": [1.0]}}}
    with pytest.raises(InputError, match=r"field 'a\.per_query': runs score different query"):
        report.average_system([results["cells"]["bm25"]["results"], short], "mixed")


def test_experiment_compare_command(capsys) -> None:
    from uniret.cli import main

    base, mt = f"base={RESULTS}#fs-a-base-s*", f"mt={RESULTS}#fs-a-mt-s*"
    assert main(["experiment", "compare", base, mt, f"bm25={RESULTS}#bm25"]) == 0
    out = capsys.readouterr().out
    assert "| mt − base |" in out and "| bm25 − base |" in out  # each against the first
    assert main(["experiment", "compare", base, mt, "--pair", "base,mt"]) == 0
    out = capsys.readouterr().out
    assert "| base − mt |" in out and "| mt − base |" not in out
    assert main(["experiment", "compare", base, "--pair", "base,other"]) == 2
    assert "no system 'other'" in capsys.readouterr().err
    assert main(["experiment", "compare", base, "--pair", "base"]) == 2
    assert "--pair base: expected A,B" in capsys.readouterr().err
    assert main(["experiment", "compare", str(RESULTS)]) == 2
    assert "expected NAME=SOURCE" in capsys.readouterr().err
    # a name given twice pools its sources' runs: seeds kept in two results files read as one
    assert main(["experiment", "compare", base, mt]) == 0
    whole = capsys.readouterr().out
    split = [f"base={RESULTS}#fs-a-base-s0", f"base={RESULTS}#fs-a-base-s1"]
    assert main(["experiment", "compare", *split, mt]) == 0
    assert capsys.readouterr().out == whole
    assert "matches" not in whole  # readings only with a margin


def test_experiment_compare_warns_when_a_system_has_more_runs_of_one_task(capsys) -> None:
    from uniret.cli import main

    base = f"base={RESULTS}#fs-a-base-s*"
    assert main(["experiment", "compare", base, f"bm25={RESULTS}#bm25"]) == 0
    assert "warning" not in capsys.readouterr().err  # seeds of the same tasks: even
    # a glob that catches cells of one task only besides a run of both: task a has 3 runs, b 1
    assert main(["experiment", "compare", f"mixed={RESULTS}#fs-a-base-s*,bm25", base]) == 0
    err = capsys.readouterr().err
    assert "warning: mixed: tasks have different numbers of runs (a 3, b 1)" in err
    assert f"a: {RESULTS}#bm25, {RESULTS}#fs-a-base-s0, {RESULTS}#fs-a-base-s1" in err
    named = report.load_named_runs(f"{RESULTS}#fs-a-base-s*")
    assert report.uneven_runs(named) == {}
    assert [where for where, _ in named] == [f"{RESULTS}#fs-a-base-s0", f"{RESULTS}#fs-a-base-s1"]


def test_experiment_compare_reads_each_pair_against_an_equivalence_margin(capsys) -> None:
    from uniret.cli import main

    base, mt = f"base={RESULTS}#fs-a-base-s*", f"mt={RESULTS}#fs-a-mt-s*"
    bm25 = f"bm25={RESULTS}#bm25"
    pairs = ["--pair", "mt,base", "--pair", "bm25,base", "--pair", "base,mt"]
    queries = ["--queries-only", "--margin", "0.5"]
    assert main(["experiment", "compare", base, mt, bm25, *pairs, *queries]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("- ")]
    # over the queries of the seed means, task a: mt +37.5 [+12.5, +50.0]* over base; bm25
    # +12.5 [-37.5, +75.0] (task b: bm25 only)
    assert lines[0].startswith("- mt matches base within 0.5: **holds** (lower bound above")
    assert "mt ahead on 1 of 1 tasks; significant wins: a; significant losses: none" in lines[0]
    assert lines[1].startswith("- bm25 matches base within 0.5: **fails** (lower bound below")
    assert "bm25 ahead on 1 of 1 tasks; significant wins: none" in lines[1]
    assert lines[2].startswith("- base matches mt within 0.5: **fails**")
    assert "base ahead on 0 of 1 tasks; significant wins: none; significant losses: a" in lines[2]
    # by default the two seeds of each start are redrawn too: a wider interval
    assert main(["experiment", "compare", base, mt, "--pair", "mt,base"]) == 0
    both = seed_bootstrap([([[1, 1, 1, 0], [1, 1, 0, 1]], [[1, 0, 0, 0], [1, 1, 0, 0]])])
    assert (
        f"| mt − base | {report.signed(both)} | {report.signed(both)} |" in capsys.readouterr().out
    )
    assert 0.0 < both.low < 0.125 and both.high > 0.5
    # a margin wide enough for the whole interval turns the verdict
    assert (
        main(
            [
                "experiment",
                "compare",
                base,
                bm25,
                "--pair",
                "bm25,base",
                *queries[:1],
                "--margin",
                "40",
            ]
        )
        == 0
    )
    assert "- bm25 matches base within 40: **holds**" in capsys.readouterr().out
    assert main(["experiment", "compare", base, mt, "--margin", "-1"]) == 2
    assert "--margin -1: must be >= 0" in capsys.readouterr().err
