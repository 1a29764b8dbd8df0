"""``uniret quickstart``: the whole pipeline on a KILT folder, cached."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from uniret.cli.args import (
    add_backend,
    add_config_overrides,
    add_keep_models,
    backend_config,
    int_at_least,
)
from uniret.defaults import DEFAULT_DATA, DEFAULT_MODEL


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart",
        help="end-to-end baseline on a KILT folder (cached)",
        description="Passages -> BM25 index -> base-model dense index -> query-side multi-task "
        "training -> retrieval on every <task>-<split> file -> KILT evaluation tables of BM25, "
        "the base model, the multi-task model and their hybrids. Reruns reuse what was built.",
    )
    p.add_argument(
        "--data", default=str(DEFAULT_DATA), help=f"benchmark folder (default {DEFAULT_DATA})"
    )
    p.add_argument(
        "--work", default="runs/quickstart", help="artifact folder (default runs/quickstart)"
    )
    p.add_argument("--split", default="dev", help="split to evaluate (default dev)")
    p.add_argument(
        "--k", type=int_at_least(1), default=100, help="passages per query (default 100)"
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"base encoder, HF name or path (default {DEFAULT_MODEL})",
    )
    p.add_argument(
        "--train-config",
        default="configs/multitask-kiltmini.toml",
        help="query-side multi-task training config (default configs/multitask-kiltmini.toml; "
        "a configs/NAME that is not in the current folder is the one shipped with uniret)",
    )
    only = p.add_mutually_exclusive_group()
    only.add_argument(
        "--recipe",
        metavar="FILE",
        help="train and evaluate the systems of a recipe file instead of the query-side "
        "multi-task model (e.g. configs/universal-kiltmini.toml: full mode, rounds, "
        "interpolation with the base model; the configs/ recipes ship with uniret and run "
        "from any folder); each system is kept as a retriever bundle",
    )
    add_config_overrides(p, "training-config")
    only.add_argument("--no-train", action="store_true", help="stop after the zero-shot systems")
    only.add_argument("--bm25-only", action="store_true", help="BM25 only (no model, no encoding)")
    p.add_argument(
        "--only",
        nargs="+",
        metavar="SEL",
        help="run only the cells with these names (globs) or tags and the cells they build on, "
        "e.g. --recipe experiments/universal-gpu.toml --only 'loo-*': several processes can "
        "share one GPU, each with its own --work",
    )
    add_keep_models(p)
    add_backend(p, "passages and queries (training stays on PyTorch)")
    p.set_defaults(func=cmd_quickstart)


def cmd_quickstart(args: argparse.Namespace) -> int:
    from uniret.config import parse_overrides
    from uniret.experiments.report import cells_table, main_systems, main_table
    from uniret.experiments.runner import Runner
    from uniret.experiments.spec import quickstart_experiment
    from uniret.outputs import work_folder

    started = time.perf_counter()
    systems = 1 if args.bm25_only else 3 if args.no_train else 5
    spec = quickstart_experiment(
        args.data,
        split=args.split,
        k=args.k,
        base_model=args.model,
        train_config=args.train_config,
        train_overrides=parse_overrides(args.set),
        systems=systems,
        backend=backend_config(args).label,
        recipe=args.recipe,
    )
    bars: dict[str, tqdm] = {}
    units = {
        "encode": ("encode corpus", " passages"),
        "rank": ("teacher ranks train queries", " queries"),
        "train": ("train", " steps"),
    }

    def on_event(kind: str, info: dict) -> None:
        if kind not in units:
            return
        done = info.get("step", info.get("done", 0))
        bar = bars.get(kind)
        if bar is not None and (done < bar.n or info.get("total") != bar.total):
            bars.pop(kind).close()  # a new run: a recipe's next encode or training stage
        if kind not in bars:  # made at the first report: its rate counts from there
            desc, unit = units[kind]
            bars[kind] = tqdm(
                total=info.get("total"), initial=done, desc=desc, unit=unit, disable=args.quiet
            )
        bar = bars[kind]
        bar.n = done
        if kind == "train":
            post = {"loss": f"{info['loss']:.3f}", "ex_s": f"{info['examples_per_s']:.1f}"}
            bar.set_postfix(post, refresh=False)
        bar.refresh()

    runner = Runner(spec, args.work, on_event, keep_models=args.keep_models)
    runner.plan(args.only)  # an --only that picks no cell fails here, before anything is written
    with work_folder(args.work):
        results = runner.run(args.only or ())
    for bar in bars.values():
        bar.close()
    table = main_table if main_systems(results) else cells_table  # e.g. --only 'loo-*'
    print(f"\n{args.data} [{args.split}], page-level R-precision (%):\n")
    print(table(results, "Rprec"))
    print("\nrecall@5 (%):\n")
    print(table(results, "recall@5"))
    print(
        f"\ndone in {time.perf_counter() - started:.1f}s; artifacts under {args.work}, each "
        f"system as a retriever bundle in {Path(args.work) / 'retrievers'}"
    )
    return 0
