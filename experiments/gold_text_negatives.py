"""How many mined negatives carry a gold passage's exact text (the same sentence under another
page): false negatives no page check can catch.

Reads training examples written by mining (a cell's ``mined/train-examples.jsonl`` or
``uniret mine`` output) and the passage store they index, and prints per task how many
negatives have the text of one of their query's positives (case and spacing ignored), and for
how many queries. Run from the repository root:

    python experiments/gold_text_negatives.py --passages W/shared/passages MINED.jsonl ...
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from uniret.corpus.store import PassageStore
from uniret.training.data import load_examples


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", required=True, type=Path, help="the passage store")
    parser.add_argument("mined", nargs="+", type=Path, help="mined training examples")
    args = parser.parse_args()
    store = PassageStore(args.passages)
    for path in args.mined:
        same, negatives, queries = Counter(), Counter(), Counter()
        for ex in load_examples(path):
            gold = {_norm(p.text) for p in store.get_many(list(ex.positives))}
            hits = sum(_norm(p.text) in gold for p in store.get_many(list(ex.negatives)))
            same[ex.task] += hits
            negatives[ex.task] += len(ex.negatives)
            queries[ex.task] += hits > 0
        counts = ", ".join(
            f"{t} {same[t]} of {negatives[t]} ({queries[t]} queries)" for t in sorted(negatives)
        )
        print(f"{path}: {counts}")


if __name__ == "__main__":
    main()
