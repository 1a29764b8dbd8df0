"""Where the universal model loses trex to the task-specific ones (GPU recipe, three seeds each).

Reads the per-query R-precision of experiments/results/universal-gpu/ (seeds averaged per query,
as `uniret experiment compare` does) and the shipped kiltmini dev file, and splits the trex gap
two ways: queries whose subject is also the title of a titled page (kiltmini's trex gold pages
are all untitled, grec's are titled, and both tasks ask "subject [SEP] relation"), and
relations. Run from the repository root:

    python experiments/trex_gap.py
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from uniret.corpus.knowledge import iter_pages
from uniret.experiments.report import average_system, load_runs
from uniret.tasks.kilt import read_examples
from uniret.tasks.registry import SEP

DATA = Path("src/uniret/data/kiltmini")
R = "experiments/results/universal-gpu"
UNIVERSAL = [f"{R}/results-4.json#b64e3-stage,b64e3-s1-stage,b64e3-s2-stage"]
TASK_SPECIFIC = [
    f"{R}/results-2.json#full-single-trex-stage",
    f"{R}/results-4.json#full-single-trex-s1-stage,full-single-trex-s2-stage",
]


def _trex_rprec(sources: list[str]) -> np.ndarray:
    """Per-query trex R-precision of the runs the sources name, averaged per query."""
    runs = [run for source in sources for run in load_runs(source)]
    return np.asarray(average_system(runs, " + ".join(sources))["trex"]["per_query"]["Rprec"])


def main() -> None:
    titled = {p.title.strip().lower() for p in iter_pages(DATA / "knowledge.jsonl.gz")}
    titled.discard("")
    queries = read_examples(DATA / "trex-dev-kilt.jsonl.gz")
    universal, specific = _trex_rprec(UNIVERSAL), _trex_rprec(TASK_SPECIFIC)
    n = len(queries)
    subject, relation = zip(*(q.input.split(SEP, 1) for q in queries), strict=True)
    namesake = np.array([s.strip().lower() in titled for s in subject])
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
    for i, rel in enumerate(relation):
        by_relation[rel.strip()].append(i)
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
