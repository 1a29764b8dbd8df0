"""``uniret quickstart``: the whole pipeline on a KILT folder, cached."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from uniret.cli.args import int_at_least
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
        help="query-side multi-task training config (default configs/multitask-kiltmini.toml)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training-config key",
    )
    p.add_argument("--no-train", action="store_true", help="stop after the zero-shot systems")
    p.add_argument("--bm25-only", action="store_true", help="BM25 only (no model, no encoding)")
    p.set_defaults(func=cmd_quickstart)


def cmd_quickstart(args: argparse.Namespace) -> int:
    from uniret.evaluation.tables import comparison_table
    from uniret.outputs import work_folder
    from uniret.pipeline import Callbacks, PipelineConfig, run_pipeline

    started = time.perf_counter()
    config = PipelineConfig(
        data_dir=Path(args.data),
        work_dir=Path(args.work),
        split=args.split,
        k=args.k,
        dense=not args.bm25_only,
        base_model=args.model,
        train_config=None if args.no_train or args.bm25_only else Path(args.train_config),
        train_overrides=tuple(args.set),
    )
    bars: dict[str, tqdm] = {}

    def bar(name: str, **kwargs: object) -> tqdm:
        """One progress bar per step, made on its first event."""
        if name not in bars:
            bars[name] = tqdm(disable=args.quiet, **kwargs)
        return bars[name]

    def on_encode(n: int, total: int) -> None:
        bar("encode", total=total, unit=" passages", desc="encode corpus", smoothing=0.05).update(n)

    def on_train(record: dict) -> None:
        steps = bar("train", total=record["total"], unit=" steps", desc="train")
        steps.n = record["step"]
        steps.set_postfix(loss=f"{record['loss']:.3f}", ex_s=f"{record['examples_per_s']:.1f}")
        steps.refresh()

    with work_folder(args.work):
        systems = run_pipeline(config, Callbacks(encode=on_encode, train=on_train))
    for bar in bars.values():
        bar.close()
    print(f"\n{args.data} [{args.split}], page-level R-precision (%):\n")
    print(comparison_table(systems, "Rprec"))
    print("\nrecall@5 (%):\n")
    print(comparison_table(systems, "recall@5"))
    print(f"\ndone in {time.perf_counter() - started:.1f}s; artifacts under {args.work}")
    return 0
