"""Probe: can a per-task shift of the query along the index's untitled-minus-titled direction
fix the universal model's titled trex confounders? No training: for each task, the model's
queries q become q + beta * d, d the unit difference between the mean untitled and the mean
titled passage vector of the index, searched exactly over all passages; prints how often the
top passage's page is a gold page (page-level R-precision where every evidence set is one
page: all tasks but hotpotqa) on the first 600 train queries and on all dev queries, for a
grid of beta.

    python experiments/results/universal-transfer/trex-confounders/titled_shift.py INDEX MODEL
"""

from __future__ import annotations

import sys

import numpy as np

from uniret.defaults import DEFAULT_DATA
from uniret.index.dense import DenseIndex
from uniret.models.biencoder import BiEncoder
from uniret.tasks.kilt import read_examples

BETAS = (-0.1, -0.05, -0.02, 0.0, 0.02, 0.05, 0.1, 0.15)


def main() -> None:
    index = DenseIndex.open(sys.argv[1])
    model = BiEncoder.from_pretrained(sys.argv[2])
    passages = index.vectors()
    table = index.store.table
    pages = np.array(table.column("wikipedia_id").to_pylist())
    titled = np.array([bool(t.strip()) for t in table.column("title").to_pylist()])
    direction = passages[~titled].mean(0) - passages[titled].mean(0)
    along = passages @ (direction / np.linalg.norm(direction))
    mean_titled, mean_untitled = along[titled].mean(), along[~titled].mean()
    print(f"titled passages {100 * titled.mean():.1f}%; mean along d: ", end="")
    print(f"titled {mean_titled:.3f}, untitled {mean_untitled:.3f}")
    print("task split " + " ".join(f"{b:+.2f}" for b in BETAS))
    for task in ("trex", "grec", "wikiqa", "hotpotqa", "cfever"):
        for split in ("train", "dev"):
            examples = read_examples(f"{DEFAULT_DATA}/{task}-{split}-kilt.jsonl.gz")
            examples = examples[:600] if split == "train" else examples
            gold = [{p.wikipedia_id for o in e.outputs for p in o.provenance} for e in examples]
            scores = model.embed_inputs([e.input for e in examples], task) @ passages.T
            hits = []
            for beta in BETAS:
                top = np.argmax(scores + beta * along[None, :], axis=1)
                hits.append(np.mean([pages[t] in g for t, g in zip(top, gold, strict=True)]))
            print(f"{task} {split} " + " ".join(f"{100 * h:.1f}" for h in hits), flush=True)


if __name__ == "__main__":
    main()
