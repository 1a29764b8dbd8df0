"""Tables and RESULTS.md from an experiment's results.json (plots: plots.py).

Cells are placed by their labels: ``study = "main"`` cells are columns of the retrieval tables
(``system``; a cell with a ``task`` label fills only that task's row, so one-model-per-task
systems form one column); ``study = "fewshot"`` cells (``task``, ``start``, ``k``, ``seed``) form
the low-data tables and learning curves. The ``report`` table of the experiment file names the
comparisons (paired bootstrap over queries, and over training runs where a system has several
seeds), the few-shot reference systems and the downstream proxy.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import math
import os
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from uniret.errors import InputError
from uniret.evaluation.significance import Interval, seed_bootstrap
from uniret.evaluation.tables import MACRO, macro_mean, markdown_table, pct
from uniret.io import read_json

logger = logging.getLogger(__name__)

Results = dict[str, Any]


# ---------------------------------------------------------------- merging runs
MERGE_SAME = ("experiment", "file", "split")


def merge_results(runs: Sequence[tuple[str | Path, Results]], same_data: bool = False) -> Results:
    """One results file from the ``results.json`` of several work folders of the same
    experiment (e.g. processes that ran different cells with ``--only``): every cell once, in
    the order first seen. A cell in several runs must have the same key there (same config,
    code and inputs); the first run's record is kept. The runs must have read the same
    benchmark: equal ``data`` digests of its files where both record them (the folders may
    lie at different paths, e.g. two machines), else the same ``data_dir`` unless
    ``same_data`` vouches for it (results written before the digests were recorded)."""
    if not runs:
        raise ValueError("nothing to merge")
    first_path, first = runs[0]
    merged = {k: v for k, v in first.items() if k != "cells"}
    cells: dict[str, Any] = {}
    seen: dict[str, str] = {}
    declared = list(first.get("cells_declared", []))
    for path, results in runs:
        data = "data" if "data" in results and "data" in first else "data_dir"
        fields = MERGE_SAME if same_data and data == "data_dir" else (*MERGE_SAME, data)
        for field in fields:
            if results.get(field) != first.get(field):
                raise InputError(
                    path,
                    None,
                    field,
                    f"{results.get(field)!r} here, {first.get(field)!r} in "
                    f"{first_path}: not the same experiment",
                )
        for name in results.get("cells_declared", []):
            if name not in declared:
                declared.append(name)
        for name, record in results.get("cells", {}).items():
            if name in cells:
                if record.get("key") != cells[name].get("key"):
                    raise InputError(
                        path,
                        None,
                        f"cells.{name}.key",
                        f"{record.get('key')} here, "
                        f"{cells[name].get('key')} in {seen[name]}: the cell ran with other "
                        "settings, code or data",
                    )
                continue
            cells[name] = record
            seen[name] = str(path)
    merged["cells_declared"] = declared
    merged["cells"] = cells
    return merged


# ---------------------------------------------------------------- comparing saved results
TaskResults = dict[str, dict[str, Any]]
"""Task name -> ``{"metrics": ..., "per_query": ...}``: one run of one system."""


def load_runs(source: str, metric: str = "Rprec") -> list[TaskResults]:
    """The runs one source names, each a task -> result mapping with per-query ``metric``:
    ``RESULTS#GLOB[,GLOB...]`` (the cells of a ``results.json`` whose names match one of the
    globs), or a file glob of ``cell.json`` files (a cell's record) and ``uniret evaluate
    --json`` outputs."""
    return [run for _, run in load_named_runs(source, metric)]


def load_named_runs(source: str, metric: str = "Rprec") -> list[tuple[str, TaskResults]]:
    """:func:`load_runs`, each run with where it came from (``RESULTS#CELL`` or the file)."""
    if "#" in source:
        path, pattern = source.rsplit("#", 1)
        if not Path(path).is_file():
            raise InputError(path, None, None, "no such results file")
        cells = read_json(Path(path)).get("cells", {})
        patterns = pattern.split(",")
        runs = [
            (f"{path}#{name}", cell.get("results", {}))
            for name, cell in cells.items()
            if any(fnmatch.fnmatchcase(name, p) for p in patterns)
        ]
        if not runs:
            raise InputError(path, None, "cells", f"no cell matches {pattern!r}")
    else:
        paths = sorted(glob.glob(source)) if glob.has_magic(source) else [source]
        if not paths or not Path(paths[0]).is_file():
            raise InputError(source, None, None, "no such file")
        runs = [(p, _task_results(read_json(Path(p)))) for p in paths]
    for where, run in runs:
        if not run:
            raise InputError(
                where,
                None,
                "results",
                "no task results: expected a cell.json, evaluate --json output or, for a "
                "results.json, RESULTS#CELL_GLOB",
            )
        for task, result in run.items():
            if metric not in result.get("per_query", {}):
                raise InputError(
                    where,
                    None,
                    f"{task}.per_query.{metric}",
                    "missing: no per-query scores to pair",
                )
    return runs


def uneven_runs(runs: Sequence[tuple[str, TaskResults]]) -> dict[str, list[str]]:
    """Task -> the runs that hold it, when tasks have different numbers of runs (else empty):
    one system's seeds normally cover the same tasks, so an uneven count often means a glob
    that caught other cells too (``full-single-*-s1`` also matches
    ``full-single-trex-adversarial-s1``)."""
    holders: dict[str, list[str]] = {}
    for where, run in runs:
        for task in run:
            holders.setdefault(task, []).append(where)
    return holders if len({len(w) for w in holders.values()}) > 1 else {}


def _task_results(data: Any) -> TaskResults:
    """A cell record's ``results``, or the ``tasks`` of ``uniret evaluate --json`` output."""
    if not isinstance(data, dict):
        return {}
    if "results" in data:
        return dict(data["results"])
    return {t["name"]: t for t in data.get("tasks", [])}


def average_system(runs: Sequence[TaskResults], where: str, metric: str = "Rprec") -> TaskResults:
    """Several runs (seeds) of one system as one: per task, metrics and per-query scores
    averaged (:func:`average_runs`) over the runs that have the task; runs of a task must
    score the same queries."""
    tasks = sorted({t for run in runs for t in run})
    out: TaskResults = {}
    for task in tasks:
        have = [run[task] for run in runs if task in run]
        if len({len(r["per_query"][metric]) for r in have}) > 1:
            raise InputError(where, None, f"{task}.per_query", "runs score different query sets")
        out[task] = average_runs(have)
    return out


def comparison_report(
    runs: dict[str, list[TaskResults]],
    pairs: Sequence[tuple[str, str]],
    metric: str = "Rprec",
    samples: int = 1000,
    margin: float | None = None,
    *,
    seeds: bool = True,
) -> str:
    """Markdown: each system's ``metric`` per task and macro (its runs averaged per query, their
    number in brackets), then each pair's paired-bootstrap difference A − B (95%), macro over
    the tasks both have and per task; ``*``: the interval excludes 0. The interval redraws the
    runs of a system trained with several seeds as well as the queries (:func:`compare`);
    ``seeds=False`` redraws the queries of the seed-averaged scores only. With an equivalence
    ``margin`` (points), one reading per pair: does A match B (macro lower bound >= −margin),
    on how many tasks is A ahead, which differences are significant."""
    systems = {name: average_system(found, name, metric) for name, found in runs.items()}
    tasks = sorted({t for s in systems.values() for t in s})
    rows = []
    for name, system in systems.items():
        count = max((int(r.get("seeds", 1)) for r in system.values()), default=1)
        cells = [pct(system[t]["metrics"][metric]) if t in system else "–" for t in tasks]
        mean = macro_mean(system[t]["metrics"][metric] for t in system)
        label = f"{name} ({count} runs)" if count > 1 else name
        rows.append([label, *cells, pct(mean)])
    out = [markdown_table(["system", *tasks, MACRO], rows)]
    if pairs:
        diffs, readings = [], []
        for a, b in pairs:
            shared = [t for t in tasks if t in systems[a] and t in systems[b]]
            macro_iv = compare(runs[a], runs[b], shared, metric, samples, seeds=seeds)
            per_task = []
            for t in tasks:
                iv = (
                    compare(runs[a], runs[b], [t], metric, samples, seeds=seeds)
                    if t in shared
                    else None
                )
                per_task.append(signed(iv) if iv else "–")
            diffs.append([f"{a} − {b}", signed(macro_iv) if macro_iv else "–", *per_task])
            if margin is not None and macro_iv is not None:
                readings.append(
                    f"- {a} matches {b} within {margin:g}: "
                    f"{_verdict(macro_iv, 'matches', margin)}; "
                    f"{_per_task(runs[a], runs[b], shared, samples, metric, a, seeds)}."
                )
        out.append(markdown_table(["difference", f"{MACRO} (shared tasks)", *tasks], diffs))
        if readings:
            out.append("\n".join(readings))
    return "\n\n".join(out)


# ---------------------------------------------------------------- selecting cells
def main_runs(results: Results) -> dict[str, list[TaskResults]]:
    """``system -> [one run's task results]`` of the main study, systems in file order: one
    entry per cell (a system's cells differ by their ``seed`` label, or by their ``task``
    label for one model per task), holding the tasks the cell counts for."""
    systems: dict[str, list[TaskResults]] = {}
    for record in results["cells"].values():
        labels = record.get("labels", {})
        if labels.get("study") != "main":
            continue
        run = {t: r for t, r in record["results"].items() if labels.get("task") in (None, t)}
        systems.setdefault(labels["system"], []).append(run)
    return systems


def main_seed_runs(results: Results) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``system -> task -> [per-seed result]`` of the main study, systems in file order (a
    system's cells differ by their ``seed`` label; one cell is one seed)."""
    systems: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for system, runs in main_runs(results).items():
        tasks = systems.setdefault(system, {})
        for run in runs:
            for task, result in run.items():
                tasks.setdefault(task, []).append(result)
    return systems


def main_systems(results: Results) -> dict[str, dict[str, dict[str, Any]]]:
    """``system -> task -> per-task result`` of the main study, systems in file order; a
    system trained with several seeds gets the seed average (per query and per metric)."""
    return {
        system: {task: average_runs(runs) for task, runs in tasks.items()}
        for system, tasks in main_seed_runs(results).items()
    }


def average_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several seeds' results: metrics and per-query scores averaged."""
    if len(runs) == 1:
        return runs[0]
    return {
        "queries": runs[0].get("queries"),
        "metrics": {m: float(np.mean([r["metrics"][m] for r in runs])) for m in runs[0]["metrics"]},
        "per_query": {
            m: np.mean([r["per_query"][m] for r in runs], axis=0).tolist()
            for m in runs[0]["per_query"]
        },
        "seeds": len(runs),
    }


def seed_spread(
    tasks: dict[str, list[dict[str, Any]]], names: Sequence[str], metric: str = "Rprec"
) -> tuple[float, int] | None:
    """Standard deviation over seeds of a system's macro ``metric`` over ``names``, and the
    number of seeds; ``None`` for a single run (or tasks run with unequal seed counts)."""
    counts = {len(tasks.get(t, [])) for t in names}
    if len(counts) != 1 or (n := counts.pop()) < 2:
        return None
    macros = [macro_mean(tasks[t][i]["metrics"][metric] for t in names) for i in range(n)]
    return statistics.stdev(macros), n


def all_tasks(results: Results) -> list[str]:
    """Every task evaluated by some main-study cell."""
    return sorted({t for tasks in main_systems(results).values() for t in tasks})


def fewshot_runs(results: Results) -> dict[str, dict[str, dict[int, list[dict[str, Any]]]]]:
    """``task -> start -> k -> [per-seed result]`` of the few-shot study (k = 0 included)."""
    runs: dict[str, dict[str, dict[int, list[dict[str, Any]]]]] = {}
    for record in results["cells"].values():
        labels = record.get("labels", {})
        if labels.get("study") != "fewshot":
            continue
        task = labels["task"]
        if task not in record["results"]:
            continue
        by_k = runs.setdefault(task, {}).setdefault(labels["start"], {})
        by_k.setdefault(int(labels["k"]), []).append(record["results"][task])
    for task, starts in runs.items():  # the base start first: differences read "other − base"
        runs[task] = dict(sorted(starts.items(), key=lambda item: item[0] != "base"))
    reference = results.get("report", {}).get("fewshot", {}).get("base")
    if reference:  # zero-shot of the base start is the base system itself
        base = main_systems(results).get(reference, {})
        for task, starts in runs.items():
            if "base" in starts and 0 not in starts["base"] and task in base:
                starts["base"][0] = [base[task]]
    return runs


# ---------------------------------------------------------------- numbers
def signed(iv: Interval) -> str:
    """``+5.6 [+3.1, +8.0]`` in points, starred when the interval excludes 0."""
    star = "*" if iv.significant else ""
    return f"{100 * iv.delta:+.1f} [{100 * iv.low:+.1f}, {100 * iv.high:+.1f}]{star}"


def macro(tasks: dict[str, dict[str, Any]], names: Sequence[str], metric: str) -> float | None:
    """Mean of a metric over ``names`` when the system has every one of them."""
    if any(t not in tasks for t in names):
        return None
    return macro_mean(tasks[t]["metrics"][metric] for t in names)


def compare(
    a: Sequence[TaskResults],
    b: Sequence[TaskResults],
    tasks: Sequence[str],
    metric: str = "Rprec",
    samples: int = 1000,
    *,
    seeds: bool = True,
) -> Interval | None:
    """Paired bootstrap of A − B over ``tasks`` (macro over tasks), each system given as its
    runs (seeds; one task result mapping per run). The interval redraws the queries and each
    system's runs (:func:`seed_bootstrap`): a run that covers every task of ``tasks`` (one
    multi-task model) is drawn for all of them at once, runs of single tasks task by task.
    ``seeds=False``: the queries of the seed-averaged scores only. ``None`` when a side has no
    run of some task."""
    groups = []
    for t in tasks:
        rows = [[run[t]["per_query"][metric] for run in side if t in run] for side in (a, b)]
        if not all(rows):
            return None
        if not seeds:
            rows = [[np.mean(r, axis=0)] for r in rows]
        groups.append((rows[0], rows[1]))
    if not groups:
        return None
    joint = (_covers(a, tasks), _covers(b, tasks))
    return seed_bootstrap(groups, joint=joint, samples=samples)


def _covers(runs: Sequence[TaskResults], tasks: Sequence[str]) -> bool:
    """Every run has every task: the runs are whole models, each serving all ``tasks``."""
    return all(t in run for run in runs for t in tasks)


def runs_interval(
    a: list[dict[str, Any]], b: list[dict[str, Any]], samples: int, metric: str = "Rprec"
) -> Interval:
    """A − B on one task, each side the results of its runs (seeds): queries and runs redrawn."""
    rows = [[r["per_query"][metric] for r in side] for side in (a, b)]
    return seed_bootstrap([(rows[0], rows[1])], samples=samples)


def mean_std(runs: list[dict[str, Any]], metric: str = "Rprec") -> tuple[float, float]:
    values = [r["metrics"][metric] for r in runs]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


# ---------------------------------------------------------------- tables
def main_table(results: Results, metric: str = "Rprec") -> str:
    """Tasks × systems of the main study, with the macro average."""
    systems = main_systems(results)
    tasks = all_tasks(results)
    rows = [
        [t] + [pct(s[t]["metrics"][metric]) if t in s else "–" for s in systems.values()]
        for t in tasks
    ]
    runs = main_seed_runs(results)
    cells = []
    for name, s in systems.items():
        m = macro(s, tasks, metric)
        spread = seed_spread(runs[name], tasks, metric)
        text = f"**{pct(m)}**" if m is not None else "–"
        cells.append(text + (f" ± {pct(spread[0])} ({spread[1]} seeds)" if spread else ""))
    rows.append([f"**{MACRO}**", *cells])
    return markdown_table(["task", *systems], rows)


def cells_table(results: Results, metric: str = "Rprec") -> str:
    """One row per cell of any study, one column per task it was evaluated on, with the macro
    average where a cell has every task: what a run that has no main-study cell (held-out
    tasks, low data) shows in place of :func:`main_table`."""
    cells = results["cells"]
    tasks = sorted({t for record in cells.values() for t in record["results"]})
    rows = []
    for name, record in cells.items():
        scores = record["results"]
        m = macro(scores, tasks, metric)
        rows.append(
            [name]
            + [pct(scores[t]["metrics"][metric]) if t in scores else "–" for t in tasks]
            + [f"**{pct(m)}**" if m is not None else "–"]
        )
    return markdown_table(["cell", *tasks, f"**{MACRO}**"], rows)


def comparison_table(results: Results) -> str:
    """Each configured pair A − B: R-precision difference per task and macro, 95% CI."""
    runs = main_runs(results)
    tasks = all_tasks(results)
    samples = int(results.get("bootstrap", 1000))
    rows = []
    for a, b in results.get("report", {}).get("comparisons", []):
        if a not in runs or b not in runs:
            continue
        row = [f"{a} − {b}"]
        for t in [*([task] for task in tasks), tasks]:
            iv = compare(runs[a], runs[b], t, samples=samples)
            row.append(signed(iv) if iv else "–")
        row.append(_spreads(results, (a, b), tasks))
        rows.append(row)
    header = ["A − B (R-prec points)", *tasks, MACRO, "seed sd of macro (A / B)"]
    return markdown_table(header, rows)


def _spreads(results: Results, names: Sequence[str], tasks: Sequence[str]) -> str:
    """``0.4 (3) / 1 run``: each system's seed standard deviation of the macro, in points."""
    runs = main_seed_runs(results)
    parts = []
    for name in names:
        spread = seed_spread(runs.get(name, {}), tasks)
        parts.append(f"{pct(spread[0])} ({spread[1]})" if spread else "1 run")
    return " / ".join(parts)


def fewshot_table(results: Results, task: str) -> str:
    """k × starting point for one task: mean ± std over seeds, and the paired difference of the
    seed-averaged per-query scores (second start − first), queries and seeds redrawn."""
    runs = fewshot_runs(results).get(task, {})
    starts = list(runs)
    ks = sorted({k for by_k in runs.values() for k in by_k})
    samples = int(results.get("bootstrap", 1000))
    rows = []
    for k in ks:
        row = [str(k)]
        for s in starts:
            if k in runs[s]:
                mean, std = mean_std(runs[s][k])
                seeds = len(runs[s][k])
                row.append(f"{pct(mean)} ± {pct(std)} ({seeds})" if seeds > 1 else pct(mean))
            else:
                row.append("–")
        if len(starts) == 2 and all(k in runs[s] for s in starts):
            row.append(signed(runs_interval(runs[starts[1]][k], runs[starts[0]][k], samples)))
        elif len(starts) == 2:
            row.append("–")
        rows.append(row)
    header = ["k", *starts] + ([f"{starts[1]} − {starts[0]}"] if len(starts) == 2 else [])
    return markdown_table(header, rows)


def fewshot_wins(results: Results) -> dict[int, tuple[int, int, int]]:
    """Per k > 0: (tasks where the second start's seed mean beats the first's, of which
    significant, tasks compared)."""
    out: dict[int, list[int]] = {}
    samples = int(results.get("bootstrap", 1000))
    for runs in fewshot_runs(results).values():
        starts = list(runs)
        if len(starts) != 2:
            continue
        for k in set(runs[starts[0]]) & set(runs[starts[1]]):
            if k == 0:
                continue
            iv = runs_interval(runs[starts[1]][k], runs[starts[0]][k], samples)
            wins = out.setdefault(k, [0, 0, 0])
            wins[0] += iv.delta > 0
            wins[1] += iv.delta > 0 and iv.significant
            wins[2] += 1
    return {k: (v[0], v[1], v[2]) for k, v in sorted(out.items())}


def downstream_table(results: Results) -> str:
    """answer_in_context@k per task and system (retrieval gains reaching the answer text)."""
    spec = results.get("report", {}).get("downstream", {})
    systems = main_systems(results)
    names = [s for s in spec.get("systems", []) if s in systems]
    rows = []
    for task in spec.get("tasks", []):
        for k in spec.get("ks", [1, 5, 20]):
            metric = f"answer_in_context@{k}"
            rows.append(
                [f"{task} @{k}"]
                + [
                    pct(systems[s][task]["metrics"][metric]) if task in systems[s] else "–"
                    for s in names
                ]
            )
    return markdown_table(["task @k", *names], rows)


def timing_table(results: Results) -> tuple[str, dict[str, float]]:
    """Wall time per group of cells (tags), and the totals: query side vs full mode."""
    groups: dict[str, list[float]] = {}
    totals = {"query side": 0.0, "full": 0.0}
    for record in results["cells"].values():
        tags = record.get("tags", [])
        group = next((t for t in tags if t not in ("query-side",)), "other")
        groups.setdefault(group, []).append(record["wall_s"])
        totals["full" if "full" in tags else "query side"] += record["wall_s"]
    rows = [[g, str(len(v)), f"{sum(v) / 60:.1f}", f"{max(v):.0f}"] for g, v in groups.items()]
    return markdown_table(["cells (tag)", "cells", "minutes", "longest cell (s)"], rows), totals


# ---------------------------------------------------------------- reading
def _verdict(iv: Interval | None, claim: str, margin: float | None) -> str:
    """``beats``: the interval lies above 0. ``matches``: its lower bound lies above
    ``-margin`` (an equivalence margin in points, declared in the experiment file); when it
    does not, the smallest margin (rounded up to 0.01 point) it would hold with."""
    if iv is None:
        return "not measured (cells missing)"
    if claim == "matches":
        if margin is None:
            return "**undecided** (no equivalence margin declared: `[report] equivalence_margin`)"
        if round(100 * iv.low, 6) >= -margin:  # as printed, not float noise
            return f"**holds** (lower bound above −{margin:g})"
        needed = math.ceil(round(-10000 * iv.low, 6)) / 100  # the margin it would hold with
        return f"**fails** (lower bound below −{margin:g}; it holds from a margin of {needed:.2f})"
    if iv.significant and iv.delta > 0:
        return "**holds**"
    return "**inconclusive** (difference within noise)" if iv.delta > 0 else "**fails**"


def _per_task(
    a: Sequence[TaskResults],
    b: Sequence[TaskResults],
    tasks: Sequence[str],
    samples: int,
    metric: str = "Rprec",
    name: str = "A",
    seeds: bool = True,
) -> str:
    """Where a macro difference comes from: the tasks A (called ``name``, given as its runs) is
    ahead on, significant wins and losses per task, and the macro interval with each task left
    out in turn (the least favourable one)."""
    ivs = {t: compare(a, b, [t], metric, samples, seeds=seeds) for t in tasks}
    ahead = [t for t, iv in ivs.items() if iv and iv.delta > 0]
    won = [t for t in ahead if ivs[t] and ivs[t].significant]  # type: ignore[union-attr]
    lost = [t for t, iv in ivs.items() if iv and iv.delta < 0 and iv.significant]
    text = f"{name} ahead on {len(ahead)} of {len(tasks)} tasks"
    if 0 < len(ahead) < len(tasks):
        text += f" ({', '.join(ahead)})"
    text += f"; significant wins: {', '.join(won) or 'none'}"
    text += f"; significant losses: {', '.join(lost) or 'none'}"
    if len(tasks) > 2:
        drops = {
            t: compare(a, b, [u for u in tasks if u != t], metric, samples, seeds=seeds)
            for t in tasks
        }
        worst_task, worst = min(drops.items(), key=lambda kv: kv[1].low if kv[1] else 0.0)
        if worst is not None:
            text += f"; without {worst_task}: {signed(worst)}"
    return text


def claims(results: Results) -> list[str]:
    """One line per claim of the paper, with the measured macro difference and its CI, then
    where it comes from task by task.

    The pairwise claims are data: ``[report] claims`` of the experiment file, each
    ``{a, b, kind = "beats" | "matches", text, missing?, margin?}`` (``missing``: what to say
    when a system was not run; ``margin``: the equivalence margin of a ``matches`` claim in
    points, else ``[report] equivalence_margin``). The low-data, zero-shot and downstream
    lines follow from ``[report] fewshot`` and ``downstream``; they count per-task paired
    bootstrap results, significant ones apart.
    """
    runs = main_runs(results)
    systems = main_systems(results)
    tasks = all_tasks(results)
    samples = int(results.get("bootstrap", 1000))
    report = results.get("report", {})

    def iv(a: str, b: str) -> Interval | None:
        if a not in runs or b not in runs:
            return None
        return compare(runs[a], runs[b], tasks, samples=samples)

    lines = []
    for claim in report.get("claims", []):
        a, b, kind, text = claim["a"], claim["b"], claim["kind"], claim["text"]
        result = iv(a, b)
        if result is None and claim.get("missing"):
            lines.append(f"- {text}: {claim['missing']}.")
            continue
        margin = claim.get("margin", report.get("equivalence_margin"))
        where = f" (`{a}` − `{b}`, macro R-prec: {signed(result)})" if result else ""
        line = f"- {text}: {_verdict(result, kind, margin)}{where}."
        if result is not None:
            line += f" Per task: {_per_task(runs[a], runs[b], tasks, samples)}."
        lines.append(line)
    wins = fewshot_wins(results)
    for k, (won, sig, of) in wins.items():
        if won * 2 <= of:
            verdict = "**fails**"
        elif sig * 2 > of:
            verdict = "**holds**"
        else:
            verdict = "**holds in direction only** (most differences within noise)"
        lines.append(
            f"- Low data, k = {k}: the multi-task starting point beats the base starting point "
            f"on {won} of {of} tasks ({sig} significant): {verdict}."
        )
    zero = {
        task: starts
        for task, starts in fewshot_runs(results).items()
        if len(starts) == 2 and all(0 in starts[s] for s in starts)
    }
    if zero:
        ahead = significant = behind = 0
        for starts in zero.values():
            first, second = starts.values()
            zero_iv = runs_interval(second[0], first[0], samples)
            ahead += zero_iv.delta > 0
            significant += zero_iv.delta > 0 and zero_iv.significant
            behind += zero_iv.delta < 0 and zero_iv.significant
        lines.append(
            f"- Zero-shot (leave one task out): the multi-task model without the task is ahead "
            f"of the base model on {ahead} of {len(zero)} held-out tasks, significantly on "
            f"{significant}; significantly behind on {behind}."
        )
    down = results.get("report", {}).get("downstream", {})
    if {"multi-task", "BM25"} <= set(systems) and down:
        gains = [
            systems["multi-task"][t]["metrics"]["answer_in_context@5"]
            - systems["BM25"][t]["metrics"]["answer_in_context@5"]
            for t in down.get("tasks", [])
            if t in systems["multi-task"] and t in systems["BM25"]
        ]
        if gains:
            lines.append(
                "- Downstream proxy: answer_in_context@5 of multi-task minus BM25 is "
                + ", ".join(
                    f"{t} {100 * g:+.1f}" for t, g in zip(down["tasks"], gains, strict=False)
                )
                + " points."
            )
    return lines


# ---------------------------------------------------------------- the page
def machine_line(machine: dict[str, Any]) -> str:
    """A record's machine in words; processor and threads where the record has them."""
    parts = [
        machine["device"],
        machine.get("cpu"),
        f"{machine['cpu_count']} cores",
        f"{machine['threads']} threads" if "threads" in machine else None,
        f"torch {machine['torch']}",
    ]
    return ", ".join(p for p in parts if p)


def render(results: Results, plots: Sequence[Path], plot_prefix: str) -> str:
    """RESULTS.md text; plots are linked as ``plot_prefix + name``."""
    report = results.get("report", {})
    cells = results["cells"]
    machines = sorted({machine_line(r["machine"]) for r in cells.values()})
    commits = sorted({r["commit"] for r in cells.values()})
    timing, totals = timing_table(results)
    missing = [n for n in results.get("cells_declared", []) if n not in cells]
    command = report.get("command", f"uniret experiment run {results['file']} --out DIR")
    out = [
        f"# Results: the {results['experiment']} experiment matrix",
        "",
        f"Generated from `results.json` by `{command}` — do not edit by hand. "
        f"Data: `{Path(results['data_dir']).name}`, split `{results['split']}`; page-level "
        "KILT metrics in %. Differences are A − B in points with a paired bootstrap 95% "
        "interval that redraws the queries and, for a system trained with several seeds, its "
        f"training runs ({results.get('bootstrap', 1000)} resamples; `*`: excludes 0). A "
        "system's seeds are averaged per query; a single run carries no seed variance into "
        "its interval.",
        "",
        f"- cells with results: {len(cells)} of {len(results.get('cells_declared', cells))}",
        f"- machine: {'; '.join(machines)}",
        f"- commit: {', '.join(commits)}",
        f"- compute: query-side matrix {totals['query side'] / 60:.1f} min "
        f"(sum of cell wall times, after the one-time base encoding); full-mode cells "
        f"{totals['full'] / 60:.1f} min",
        "",
    ]
    held = claims(results)
    if held:  # sections an experiment file has nothing for are left out
        out += [f"## What holds on {Path(results['data_dir']).name}", "", *held, ""]
    out += [
        "## Retrieval: R-precision",
        "",
        main_table(results, "Rprec"),
        "",
        "## Retrieval: recall@5",
        "",
        main_table(results, "recall@5"),
        "",
        "## Comparisons (R-precision, paired bootstrap)",
        "",
        comparison_table(results),
        "",
    ]
    main_png = [p for p in plots if p.name == "main.png"]
    if main_png:
        out += [f"![macro R-precision per system]({plot_prefix}{main_png[0].name})", ""]
    fewshot = fewshot_runs(results)
    if fewshot:
        out += [
            "## Low data and zero-shot",
            "",
            "k training examples of one task (mean ± std over seeds, seeds in brackets), "
            "fine-tuned from the base model or from the multi-task model trained without that "
            "task; k = 0 is zero-shot. The last column compares the seed-averaged per-query "
            "scores.",
            "",
        ]
    for task in sorted(fewshot):
        out += [f"### {task}", "", fewshot_table(results, task), ""]
        png = [p for p in plots if p.name == f"fewshot-{task}.png"]
        if png:
            out += [f"![{task} learning curve]({plot_prefix}{png[0].name})", ""]
    if results.get("report", {}).get("downstream", {}).get("tasks"):
        out += [
            "## Downstream proxy: answer in the retrieved passages",
            "",
            downstream_table(results),
            "",
        ]
    out += [
        "## Compute",
        "",
        timing,
        "",
        "Rerun one cell (cached cells are skipped; `--dry-run` lists them):",
        "",
        f"    uniret experiment run {results['file']} --out DIR --only CELL_NAME",
        "",
    ]
    if missing:
        out += ["## Declared, not run yet", "", ", ".join(f"`{n}`" for n in missing), ""]
        for tag in results.get("opt_in", []):
            out += [
                f"Cells tagged `{tag}` run only when asked for: "
                f"`uniret experiment run {results['file']} --out DIR --only {tag}`.",
                "",
            ]
    return "\n".join(out)


def write_report(results: Results, out_dir: Path, *, publish: bool = False) -> list[Path]:
    """Write ``out_dir``/RESULTS.md and plots; with ``publish`` also the file's publish targets
    (``report.results_dir``: results.json + plots, ``report.markdown``: the page)."""
    from uniret.experiments.plots import plot_fewshot, plot_main
    from uniret.experiments.runner import write_results
    from uniret.io import atomic_path

    plot_dir = out_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    plots = plot_fewshot(results, plot_dir)
    main_png = plot_main(results, plot_dir)
    if main_png:
        plots.insert(0, main_png)
    written = [*plots]
    page = out_dir / "RESULTS.md"
    with atomic_path(page) as tmp:
        tmp.write_text(render(results, plots, "plots/"), encoding="utf-8")
    written.append(page)
    report = results.get("report", {})
    if publish and report.get("results_dir") and report.get("markdown"):
        target = Path(report["results_dir"])
        (target / "plots").mkdir(parents=True, exist_ok=True)
        for p in plots:
            shutil.copy2(p, target / "plots" / p.name)
        write_results(target / "results.json", results)
        markdown = Path(report["markdown"])
        prefix = Path(_relative(target / "plots", markdown.parent))
        with atomic_path(markdown) as tmp:
            tmp.write_text(render(results, plots, f"{prefix.as_posix()}/"), encoding="utf-8")
        written += [target / "results.json", markdown]
    return written


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())
