"""``uniret data download``: official benchmark files, resumable."""

from __future__ import annotations

import argparse

from tqdm import tqdm

from uniret.cli.args import csv_names


def add_parsers(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="fetch benchmark files").add_subparsers(
        dest="data_command", required=True, metavar="SUBCOMMAND"
    )
    dl = data.add_parser("download", help="download benchmark files").add_subparsers(
        dest="dataset", required=True, metavar="DATASET"
    )
    p = dl.add_parser(
        "kilt",
        help="official KILT task files (and knowledge source)",
        description="Resumable, size-checked download of KILT files; a rerun continues "
        "partial files. Note: TriviaQA inputs must be filled in with KILT's own script.",
    )
    p.add_argument("--tasks", type=csv_names, required=True, help="e.g. nq,fever,trex")
    p.add_argument("--splits", type=csv_names, default=("train", "dev"), help="(default train,dev)")
    p.add_argument("--knowledge", action="store_true", help="also fetch the 35 GB knowledge source")
    p.add_argument("--out", default="data/kilt", help="output folder (default data/kilt)")
    p.add_argument(
        "--base-url",
        default="http://dl.fbaipublicfiles.com/KILT",
        help="mirror URL (default %(default)s)",
    )
    p.set_defaults(func=cmd_data_download)


def cmd_data_download(args: argparse.Namespace) -> int:
    from uniret.data.download import download, kilt_requests

    requests = kilt_requests(
        args.tasks, args.splits, args.out, knowledge=args.knowledge, base_url=args.base_url
    )
    for request in requests:
        with tqdm(unit="B", unit_scale=True, desc=request.dest.name, disable=args.quiet) as bar:

            def report(n: int, total: int | None, bar: tqdm = bar) -> None:
                bar.total = total
                bar.update(n)

            download(request, on_bytes=report)
    print(f"{len(requests)} file(s) in {args.out}")
    return 0
