"""Where the universal model loses trex to the task-specific ones (GPU recipe, three seeds each).

Reads the per-query R-precision of experiments/results/universal-gpu/ and the shipped kiltmini
dev file, and splits the trex gap two ways: queries whose subject is also the title of a titled
page (kiltmini's trex gold pages are all untitled, grec's are titled, and both tasks ask
"subject [SEP] relation"), and relations. Run from the repository root:

    python experiments/trex_gap.py
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

DATA = Path("src/uniret/data/kiltmini")
RESULTS = Path("experiments/results/universal-gpu")
UNIVERSAL = [("results-4.json", f"b64e3{s}-stage") for s in ("", "-s1", "-s2")]
TASK_SPECIFIC = [("results-2.json", "full-single-trex-stage")] + [
    ("results-4.json", f"full-single-trex-s{s}-stage") for s in (1, 2)
]


def _lines(name: str) -> list[dict]:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _rprec(runs: list[tuple[str, str]]) -> np.ndarray:
    """Per-query trex R-precision, averaged over the runs."""
    cells = {file: json.loads((RESULTS / file).read_text())["cells"] for file, _ in runs}
    return np.mean(
        [cells[f][name]["results"]["trex"]["per_query"]["Rprec"] for f, name in runs], axis=0
    )


def main() -> None:
    titled = {p["wikipedia_title"].strip().lower() for p in _lines("knowledge.jsonl.gz")}
    titled.discard("")
    queries = _lines("trex-dev-kilt.jsonl.gz")
    universal, specific = _rprec(UNIVERSAL), _rprec(TASK_SPECIFIC)
    n = len(queries)
    subject = [q["input"].split("[SEP]")[0].strip().lower() for q in queries]
    namesake = np.array([s in titled for s in subject])
    print(
        f"trex dev: {n} queries; universal {100 * universal.mean():.1f}, "
        f"task-specific {100 * specific.mean():.1f}"
    )
    for label, mask in (("subject titles a page", namesake), ("no such page", ~namesake)):
        gap = universal[mask] - specific[mask]
        print(
            f"{label}: {mask.sum()} queries, universal {100 * universal[mask].mean():.1f}, "
            f"task-specific {100 * specific[mask].mean():.1f}, "
            f"share of the gap {100 * gap.sum() / n:+.2f} points"
        )
    by_relation: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        by_relation[q["input"].split("[SEP]")[1].strip()].append(i)
    rows = sorted(
        (float(np.sum(universal[ix] - specific[ix])) / n, rel, len(ix))
        for rel, ix in by_relation.items()
    )
    print("relations that lose most (share of the gap, points):")
    for share, rel, count in rows[:6]:
        print(f"  {rel} ({count} queries): {100 * share:+.2f}")
    losing = sum(1 for share, _, _ in rows if share < 0)
    print(f"{losing} of {len(rows)} relations lose, {sum(1 for s, _, _ in rows if s > 0)} gain")


if __name__ == "__main__":
    main()
