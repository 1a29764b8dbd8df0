"""``uniret retrieve``: KILT task files -> KILT predictions, with any retriever."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from uniret.cli.args import add_overwrite, int_at_least
from uniret.cli.selection import add_retriever_selection, open_selected_retriever
from uniret.errors import InputError, UniretError

PREDICTIONS_META = "meta.json"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "retrieve",
        help="retrieve for KILT task files -> KILT predictions",
        description="Write one KILT prediction file per input, same file name, under "
        "--out: output[0].provenance ranked best first with wikipedia_id, title, text, "
        "score and passage_id. Every input is read and checked before anything is written; "
        "--out is a new folder, an empty one, or an earlier predictions folder (files of the "
        "same name are replaced only with --overwrite).",
    )
    add_retriever_selection(p)
    p.add_argument(
        "--input", nargs="+", required=True, help="KILT task files (<task>-<split>-kilt.jsonl)"
    )
    p.add_argument("--out", required=True, help="output folder for predictions")
    p.add_argument(
        "--k", type=int_at_least(1), default=100, help="passages per query (default 100)"
    )
    p.add_argument("--task", help="task name for query formatting (default: from the file name)")
    p.add_argument(
        "--batch-size", type=int_at_least(1), default=256, help="queries per search (default 256)"
    )
    p.add_argument("--skip-invalid", action="store_true", help="skip malformed task lines")
    add_overwrite(p, "prediction file of the same name")
    p.set_defaults(func=cmd_retrieve)


def cmd_retrieve(args: argparse.Namespace) -> int:
    from uniret.io import read_json, write_json, write_jsonl
    from uniret.outputs import Artifact, check_output, writing
    from uniret.retrieval.predict import iter_predictions
    from uniret.tasks.kilt import TaskFile, read_examples
    from uniret.tasks.registry import get_task

    names = [TaskFile.from_path(p).name for p in args.input]
    if len(set(names)) < len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UniretError(f"argument --input: two files are named {dup}; their outputs would clash")
    check_output(args.out, Artifact.PREDICTIONS, reuse=True)
    jobs = []  # every input read and validated before anything is written
    for path in args.input:
        if not Path(path).is_file():
            raise InputError(path, None, None, "no such task file")
        spec = get_task(args.task or TaskFile.from_path(path).task)
        examples = read_examples(path, skip_invalid=args.skip_invalid)
        jobs.append((TaskFile.from_path(path), spec, examples))
    bundle, retriever = open_selected_retriever(args)
    out = Path(args.out)
    with writing(out, Artifact.PREDICTIONS, overwrite=args.overwrite, adding=names) as staging:
        files = {}
        for task_file, spec, examples in jobs:
            path, name = task_file.path, task_file.name
            started = time.perf_counter()
            with tqdm(total=len(examples), unit=" queries", desc=name, disable=args.quiet) as bar:
                records = iter_predictions(
                    retriever,
                    examples,
                    spec,
                    args.k,
                    batch_size=args.batch_size,
                    progress=bar.update,
                )
                n = write_jsonl(staging / name, records)
            seconds = time.perf_counter() - started
            files[name] = {"input": str(path.resolve()), "task": spec.name, "queries": n}
            print(f"{name}: {n} queries in {seconds:.1f}s ({n / max(seconds, 1e-9):.0f} q/s)")
        old = out / PREDICTIONS_META
        earlier = read_json(old).get("files", {}) if old.is_file() else {}
        write_json(
            staging / PREDICTIONS_META,
            {
                "format": "uniret.predictions/1",
                "retriever": {
                    "name": bundle.name,
                    "indexes": [str(Path(i).resolve()) for i in bundle.indexes],
                    "model": bundle.model,
                    "fusion": str(bundle.fusion.method) if len(bundle.indexes) > 1 else None,
                    "weights": list(bundle.fusion.weights),
                    "k": args.k,
                },
                "files": {**earlier, **files},
            },
        )
    print(f"predictions in {out}")
    return 0
