"""How often in-batch "negatives" come from a query's own gold pages, per task.

Draws task-homogeneous batches from a run's train examples the way the trainer builds them
(each query's positive, then its hard negatives) and counts, per query, the batch passages
other than its target that lie on one of its gold pages: the false negatives that
``mask_gold_pages`` leaves out of the softmax.

    python scripts/false_negatives.py --examples RUN/train-examples.jsonl \
        --passages WORK/shared/passages --batch-size 16 --hard-negatives 3
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from uniret.corpus.store import PassageStore
from uniret.training.data import load_examples
from uniret.training.loss import batch_passages, gold_page_mask


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", required=True, help="train-examples.jsonl of a run")
    parser.add_argument("--passages", required=True, help="the passage store they point into")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--hard-negatives", type=int, default=3)
    parser.add_argument("--batches", type=int, default=50, help="batches drawn per task")
    args = parser.parse_args()
    store = PassageStore(args.passages)
    pages = store.wikipedia_ids
    page_of = lambda ids: pages[np.asarray(ids, dtype=np.int64)]  # noqa: E731
    by_task = defaultdict(list)
    for example in load_examples(args.examples):
        by_task[example.task].append(example)
    rng = np.random.default_rng(0)
    print("task | queries meeting their own gold page | such passages per query")
    for task, examples in sorted(by_task.items()):
        hit = count = total = 0
        for step in range(args.batches):
            size = min(args.batch_size, len(examples))
            batch = [examples[i] for i in rng.choice(len(examples), size=size, replace=False)]
            picks = np.random.default_rng([0, 0, step, 0])  # as the trainer's seed 0, epoch 0
            rows = batch_passages(
                batch, picks, args.hard_negatives, len(store), random_positive=True
            )
            mask = gold_page_mask(batch, rows, list(range(len(batch))), page_of)
            per_query = mask.sum(dim=1)
            hit += int((per_query > 0).sum())
            count += int(per_query.sum())
            total += len(batch)
        print(f"{task} | {hit / total:.0%} | {count / total:.2f}")


if __name__ == "__main__":
    main()
