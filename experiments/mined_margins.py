"""How close mined confounders come to the gold: for a file of mined examples (`uniret mine`
output, or a cell's `mined/train-examples.jsonl`) and the dense retriever that mined it, this
prints per task the share of negatives its model scores above the query's best gold passage,
the same for each query's first (highest-ranked) negative, and the median of negative score
minus gold score. Those above the gold are what `mine --margin 0` skips. Run from the
repository root:

    python experiments/mined_margins.py --index W/cells/full-multitask-s1/index \\
        --model W/cells/full-multitask-s1/model \\
        W/cells/full-adversarial-s1/mined/train-examples.jsonl
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from uniret.retrieval.dense import DenseRetriever
from uniret.training.data import TrainExample, load_examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, help="the dense index the miner searched")
    parser.add_argument("--model", help="the miner's query model (default: the index's)")
    parser.add_argument("mined", help="a train-examples.jsonl of mined examples")
    args = parser.parse_args()
    retriever = DenseRetriever.load(args.index, model=args.model)
    by_task: dict[str, list[TrainExample]] = defaultdict(list)
    for ex in load_examples(args.mined):
        if ex.negatives:
            by_task[ex.task].append(ex)
    print("| task | queries | negatives | above the gold | first negative above | median margin |")
    print("|---|---:|---:|---:|---:|---:|")
    for task, examples in sorted(by_task.items()):
        queries = [ex.query for ex in examples]
        both = [ex.positives + ex.negatives for ex in examples]  # one encoding of the queries
        scores = retriever.score(queries, both, task=task)
        diffs = [
            s[len(ex.positives) :] - s[: len(ex.positives)].max()
            for s, ex in zip(scores, examples, strict=True)
        ]
        flat = np.concatenate(diffs)
        first = np.array([d[0] for d in diffs])
        print(
            f"| {task} | {len(examples)} | {len(flat)} | {np.mean(flat > 0):.1%} | "
            f"{np.mean(first > 0):.1%} | {np.median(flat):+.3f} |"
        )


if __name__ == "__main__":
    main()
