"""``uniret experiment run|report|merge|compare``: the experiment matrix, its tables and plots."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from uniret.cli.args import add_keep_models


def add_parsers(sub: argparse._SubParsersAction) -> None:
    experiment = sub.add_parser(
        "experiment", help="run an experiment matrix (cached cells, tables, plots)"
    ).add_subparsers(dest="experiment_command", required=True)
    p = experiment.add_parser(
        "run",
        help="run every cell of an experiment file",
        description="Run the cells of an experiment file (e.g. experiments/kiltmini.toml) in "
        "order. Each finished cell is cached under OUT/cells/NAME by a hash of its config and "
        "inputs: a rerun skips it, a killed run resumes at the cell it stopped in. Writes "
        "OUT/results.json, OUT/RESULTS.md (tables) and OUT/plots/*.png.",
    )
    p.add_argument("file", help="experiment TOML/YAML file")
    p.add_argument("--out", required=True, help="work folder: shared indexes, cells, results")
    p.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="SEL",
        help="run only cells with this tag or name glob (plus the cells they build on); "
        "cells with an opt-in tag of the file (e.g. full) run only when picked here",
    )
    p.add_argument("--dry-run", action="store_true", help="list the cells and their status")
    add_keep_models(p)
    p.add_argument(
        "--publish",
        action="store_true",
        help="also write the report's publish targets of the file ([report] results_dir, "
        "markdown): the committed results.json, plots and docs page",
    )
    p.set_defaults(func=cmd_experiment_run)
    p = experiment.add_parser(
        "report",
        help="rewrite tables, plots and RESULTS.md from OUT/results.json",
        description="Regenerate the tables, paired-bootstrap comparisons, plots and RESULTS.md "
        "of an experiment from OUT/results.json, without running any cell.",
    )
    p.add_argument("--out", required=True, help="work folder holding results.json")
    p.add_argument("--publish", action="store_true", help="as for `run`")
    p.add_argument(
        "--spec",
        help="experiment file whose [report] section (comparisons, claims, ...) replaces the "
        "one recorded in results.json (default: keep the recorded one)",
    )
    p.set_defaults(func=cmd_experiment_report)
    p = experiment.add_parser(
        "merge",
        help="one results.json from the work folders of several runs of an experiment",
        description="Merge the results.json of work folders that ran different cells of the "
        "same experiment file (e.g. several processes on one GPU, each `--only` some cells, "
        "each with its own --out/--work) into OUT/results.json, for `experiment report`. "
        "Every cell once; a cell found in several folders must have the same key in each, "
        "and the runs must have read the same benchmark files (recorded digests; the same "
        "--data folder for results written before those were recorded).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="work folders (or results.json files)")
    p.add_argument("--out", required=True, help="folder for the merged results.json")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT/results.json")
    p.add_argument(
        "--same-data",
        action="store_true",
        help="accept runs whose data folders differ in path where a results.json lacks the "
        "benchmark's digests (written by an older version): you vouch for the same files",
    )
    p.set_defaults(func=cmd_experiment_merge)
    p = experiment.add_parser(
        "compare",
        help="paired bootstrap between saved results (cells, evaluate outputs; seeds averaged)",
        description="Compare systems from saved results: each NAME=SOURCE is a results.json "
        "cell glob (RESULTS#GLOB, e.g. 'out/results.json#fewshot-trex-k16-s*'; several globs "
        "separated by commas), or a file glob "
        "of cell.json records and `uniret evaluate --json` outputs. A source that names several "
        "runs (seeds) is averaged per query; a NAME given several times pools the runs of its "
        "sources (seeds kept in different results files). Prints each system per task and "
        "macro, then the paired-bootstrap 95% interval of each difference A - B (macro over "
        "the tasks both have, and per task; * when it excludes 0). The interval redraws the "
        "queries and, where a system has several runs, its runs: a run holding every task "
        "(one multi-task model) is drawn for all tasks at once, runs of one task each (one "
        "model per task) task by task.",
    )
    p.add_argument("systems", nargs="+", metavar="NAME=SOURCE", help="a system and its runs")
    p.add_argument(
        "--pair",
        action="append",
        default=[],
        metavar="A,B",
        help="report A - B (repeatable; default: every system against the first)",
    )
    p.add_argument("--metric", default="Rprec", help="per-query metric to pair (default Rprec)")
    p.add_argument("--samples", type=int, default=1000, help="bootstrap samples (default 1000)")
    p.add_argument(
        "--queries-only",
        action="store_true",
        help="redraw the queries of the seed-averaged scores only, not the runs (narrower: "
        "leaves out how much the training seed moves a system)",
    )
    p.add_argument(
        "--margin",
        type=float,
        metavar="POINTS",
        help="equivalence margin: after the table, read each pair as a claim 'A matches B' "
        "(holds when the macro interval's lower bound is >= -POINTS) with the tasks A is "
        "ahead on and its significant wins and losses",
    )
    p.set_defaults(func=cmd_experiment_compare)


def cmd_experiment_run(args: argparse.Namespace) -> int:
    from uniret.experiments.runner import Runner
    from uniret.experiments.spec import load_experiment
    from uniret.outputs import work_folder

    spec = load_experiment(args.file)
    bars: dict[str, tqdm] = {}

    def on_event(kind: str, info: dict) -> None:
        if args.quiet:
            return
        if kind in ("train", "encode", "mine", "rank"):
            bar = bars.get(kind)
            total = info.get("total")
            if bar is None or bar.total != total:
                if bar is not None:
                    bar.close()
                bar = bars[kind] = tqdm(total=total, desc=f"  {kind}", leave=False)
            bar.n = info.get("step", info.get("done", 0))
            bar.refresh()
            return
        for bar in bars.values():
            bar.close()
        bars.clear()
        if kind == "cached":
            print(f"[cached] {info['cell']}")
        elif kind == "start":
            print(f"[run]    {info['cell']}", flush=True)
        elif kind == "done":
            print(f"[done]   {info['cell']} in {info['seconds']:.0f}s", flush=True)

    runner = Runner(spec, args.out, on_event, keep_models=args.keep_models)
    plan = runner.plan(args.only)
    if args.dry_run:
        status = {cell.name: runner.status(cell) for cell in plan}
        for cell in plan:
            print(f"{status[cell.name]:8s} {cell.name:40s} {' '.join(cell.tags)}")
        counts = {s: sum(v == s for v in status.values()) for s in ("cached", "partial")}
        print(
            f"{len(plan)} cells: {counts['cached']} cached, {counts['partial']} partial, "
            f"{len(plan) - counts['cached'] - counts['partial']} to run"
        )
        return 0
    started = time.perf_counter()
    with work_folder(args.out):
        results = runner.run(args.only)
    print(
        f"{len(results['cells'])} of {len(spec.cells)} cells have results "
        f"({time.perf_counter() - started:.0f}s this run) -> {Path(args.out) / 'results.json'}"
    )
    return _experiment_report(args, results)


def _experiment_report(args: argparse.Namespace, results: dict) -> int:
    from uniret.experiments.report import write_report

    if args.publish:
        dirty = sorted(n for n, c in results["cells"].items() if c["commit"].endswith("+dirty"))
        if dirty:
            print(
                f"error: not published: {len(dirty)} cells ran from a tree with uncommitted "
                f"changes ({', '.join(dirty[:3])}{', ...' if len(dirty) > 3 else ''}); commit, "
                "delete their cells/ folders and rerun",
                file=sys.stderr,
            )
            return 2
    written = write_report(results, Path(args.out), publish=args.publish)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_experiment_merge(args: argparse.Namespace) -> int:
    from uniret.errors import InputError
    from uniret.experiments.report import merge_results
    from uniret.experiments.runner import RESULTS_FILE, write_results
    from uniret.io import read_json

    out = Path(args.out) / RESULTS_FILE
    if out.exists() and not args.overwrite:
        raise InputError(out, None, None, "exists (--overwrite replaces it)")
    paths = [Path(r) / RESULTS_FILE if Path(r).is_dir() else Path(r) for r in args.runs]
    for path in paths:
        if not path.is_file():
            raise InputError(path, None, None, "no such results file")
    merged = merge_results([(path, read_json(path)) for path in paths], same_data=args.same_data)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_results(out, merged)
    if not args.quiet:
        print(f"{len(merged['cells'])} cells from {len(paths)} runs -> {out}")
    return 0


def cmd_experiment_report(args: argparse.Namespace) -> int:
    from uniret.io import read_json

    results = read_json(Path(args.out) / "results.json")
    if args.spec:
        from uniret.experiments.spec import load_experiment

        results["report"] = load_experiment(args.spec).report
    return _experiment_report(args, results)


def cmd_experiment_compare(args: argparse.Namespace) -> int:
    from uniret.experiments.report import (
        average_system,
        comparison_report,
        load_named_runs,
        uneven_runs,
    )

    sources: dict[str, list[str]] = {}  # a name given twice pools its sources' runs
    for item in args.systems:
        name, sep, source = item.partition("=")
        if not sep or not name or not source:
            print(f"error: {item!r}: expected NAME=SOURCE", file=sys.stderr)
            return 2
        sources.setdefault(name, []).append(source)
    named = {
        name: [run for s in found for run in load_named_runs(s, args.metric)]
        for name, found in sources.items()
    }
    systems = {name: [run for _, run in found] for name, found in named.items()}
    for name, found in sources.items():  # runs of one task must score the same queries
        average_system(systems[name], " + ".join(found), args.metric)
        if holders := uneven_runs(named[name]):
            counts = ", ".join(f"{t} {len(w)}" for t, w in sorted(holders.items()))
            most = max(holders, key=lambda t: len(holders[t]))
            print(
                f"warning: {name}: tasks have different numbers of runs ({counts}); did a glob "
                f"catch other cells? {most}: {', '.join(holders[most])}",
                file=sys.stderr,
            )
    names = list(systems)
    pairs = [(n, names[0]) for n in names[1:]]
    if args.pair:
        pairs = []
        for pair in args.pair:
            a, sep, b = pair.partition(",")
            unknown = [n for n in (a, b) if n not in systems]
            if not sep or unknown:
                why = f"no system {unknown[0]!r}" if sep else "expected A,B"
                print(f"error: --pair {pair}: {why}", file=sys.stderr)
                return 2
            pairs.append((a, b))
    if args.margin is not None and args.margin < 0:
        print(f"error: --margin {args.margin:g}: must be >= 0 (points)", file=sys.stderr)
        return 2
    text = comparison_report(
        systems, pairs, args.metric, args.samples, args.margin, seeds=not args.queries_only
    )
    print(text)
    return 0
