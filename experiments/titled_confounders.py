"""What the universal model's extra trex errors are: titled pages, where every trex gold is an
untitled evidence sentence.

kiltmini's trex and wikiqa gold pages are all untitled (T-REx evidence sentences, WikiQA
answer sentences), those of grec, hotpotqa and cfever all titled, and trex and grec both ask
"subject [SEP] relation". For each prediction folder (`uniret retrieve` output) this prints,
on one task's dev queries: the top-1 errors, how many of them are titled pages, and the mean
number of titled pages in the top 10. Run from the repository root, naming the folders:

    python experiments/titled_confounders.py --task trex \\
        universal=W/cells/fkd8-f4-s0/pred task-specific=ts-fused/pred-dense ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from uniret.defaults import DEFAULT_DATA
from uniret.tasks.kilt import find_task_files, read_examples


def _top_pages(folder: Path, task: str) -> dict[str, list[tuple[str, bool]]]:
    """Per query id, its ranked pages as ``(wikipedia_id, titled)``."""
    path = folder / f"{task}-dev-kilt.jsonl"
    out = {}
    with path.open() as lines:
        for line in lines:
            record = json.loads(line)
            ranked = record["output"][0]["provenance"]
            out[record["id"]] = [(p["wikipedia_id"], bool(p["title"].strip())) for p in ranked]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="trex")
    parser.add_argument("--data", type=Path, default=Path(DEFAULT_DATA))
    parser.add_argument("predictions", nargs="+", help="NAME=FOLDER of predictions")
    args = parser.parse_args()
    (dev,) = [f.path for f in find_task_files(args.data, "dev") if f.task == args.task]
    gold = {
        e.id: {p.wikipedia_id for o in e.outputs for p in o.provenance} for e in read_examples(dev)
    }
    print(f"{args.task} dev, {len(gold)} queries")
    print("| system | top-1 errors | titled among them | untitled | titled in top 10 |")
    print("|---|---:|---:|---:|---:|")
    for spec in args.predictions:
        name, folder = spec.split("=", 1)
        ranked = _top_pages(Path(folder), args.task)
        errors = [ranked[q][0] for q in gold if ranked[q][0][0] not in gold[q]]
        titled = sum(t for _, t in errors)
        top10 = sum(sum(t for _, t in ranked[q][:10]) for q in gold) / len(gold)
        print(f"| {name} | {len(errors)} | {titled} | {len(errors) - titled} | {top10:.2f} |")


if __name__ == "__main__":
    main()
