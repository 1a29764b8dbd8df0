"""``uniret evaluate``: KILT retrieval metrics of prediction files."""

from __future__ import annotations

import argparse
import sys

from uniret.cli.args import add_overwrite, csv_names, csv_positive_ints


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="KILT retrieval metrics for predictions",
        description="Score KILT predictions exactly as the KILT evaluator does: "
        "R-precision, precision/recall/success@k, answer_in_context@k, entity_in_input. "
        "Give two files, or two folders matched by file name.",
    )
    p.add_argument("--gold", required=True, help="gold KILT file or folder")
    p.add_argument("--pred", required=True, help="prediction file or folder")
    p.add_argument("--json", help="write all metrics (and per-query R-precision) to this JSON file")
    p.add_argument(
        "--ks",
        type=csv_positive_ints,
        default=(1, 5, 10, 20, 100),
        help="cut-offs (default 1,5,10,20,100)",
    )
    p.add_argument(
        "--rank-keys",
        type=csv_names,
        default=("wikipedia_id",),
        help="provenance keys identifying a unit (default wikipedia_id; passage level: "
        "wikipedia_id,start_paragraph_id,end_paragraph_id)",
    )
    p.add_argument(
        "--allow-missing", action="store_true", help="score gold ids without prediction as 0"
    )
    add_overwrite(p, "metrics file at --json")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from uniret.evaluation.evaluate import EvalConfig, evaluate_file, macro_average, pair_files
    from uniret.evaluation.tables import format_table
    from uniret.outputs import Artifact, check_output, writing

    if args.json:
        check_output(args.json, Artifact.METRICS, overwrite=args.overwrite)
    config = EvalConfig(ks=args.ks, rank_keys=args.rank_keys, allow_missing=args.allow_missing)
    reports = [evaluate_file(g, p, config) for g, p in pair_files(args.gold, args.pred)]
    print(format_table(reports))
    for r in reports:
        if r.missing:
            print(
                f"warning: {r.name}: {r.missing} gold ids had no prediction and scored 0",
                file=sys.stderr,
            )
    if args.json:
        from uniret.io import write_json

        with writing(args.json, Artifact.METRICS, overwrite=args.overwrite) as tmp:
            write_json(
                tmp,
                {
                    "format": "uniret.metrics/1",
                    "config": {"ks": list(config.ks), "rank_keys": list(config.rank_keys)},
                    "tasks": [r.to_dict() for r in reports],
                    "macro": macro_average(reports),  # per split
                },
            )
        print(f"metrics written to {args.json}")
    return 0
