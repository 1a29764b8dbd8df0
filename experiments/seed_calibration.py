"""How often an interval calls two halves of one recipe's seeds different.

A recipe trained at six seeds (kiltmini dev, experiments/results/kiltmini/results.json) is split
into two systems of three seeds, in each of the 10 ways that keep seed 0 on side A. Both sides
are the same recipe, so a 95% interval should exclude 0 in about 5% of the comparisons. For each
split, per task and macro, this prints how often the paired bootstrap over queries alone (seeds
averaged per query) and the one that redraws the seeds too exclude 0, and how often the macro
reading "A matches B within 0.5" holds, with and without "A ahead on at least 3 of 5 tasks".
The splits share seeds, so the counts are not independent trials; ``--simulate`` adds
independent ones: two systems equal by construction (binary per-query scores from a logistic
model with a query difficulty, a seed effect shifting every query of a run, and per-query run
noise), three seeds a side, 500 draws per setting. Run from the repository root:

    python experiments/seed_calibration.py [--simulate]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from uniret.evaluation.significance import paired_bootstrap, seed_bootstrap
from uniret.experiments.report import TaskResults, compare
from uniret.io import read_json

RESULTS = Path("experiments/results/kiltmini/results.json")
TASKS = ["cfever", "grec", "hotpotqa", "trex", "wikiqa"]
SEEDS = range(6)
MARGIN = 0.5


def _name(stem: str, seed: int) -> str:
    return stem if seed == 0 else f"{stem}-s{seed}"


RECIPES: dict[str, list[list[str]]] = {  # recipe -> per seed, the cells of that seed's run
    "task-specific, query side": [[_name(f"single-{t}", s) for t in TASKS] for s in SEEDS],
    "multi-task, query side": [[_name("multitask", s)] for s in SEEDS],
    "task-specific, full mode": [[_name(f"full-single-{t}", s) for t in TASKS] for s in SEEDS],
}


def _runs(cells: dict, seeds: tuple[int, ...], per_seed: list[list[str]]) -> list[TaskResults]:
    """One entry per cell of the given seeds (a one-task cell holds its task only)."""
    out = []
    for s in seeds:
        for name in per_seed[s]:
            task = cells[name]["labels"].get("task")
            out.append({t: r for t, r in cells[name]["results"].items() if task in (None, t)})
    return out


def _system(
    rng: np.random.Generator, difficulty: np.ndarray, runs: int, effect: float, noise: float
) -> np.ndarray:
    """Binary per-query scores of ``runs`` seeds of one system: ``(runs, queries)``."""
    shift = rng.normal(0.0, effect, (runs, 1)) + rng.normal(0.0, noise, (runs, difficulty.size))
    p = 1.0 / (1.0 + np.exp(-(difficulty + shift)))
    return (rng.random(p.shape) < p).astype(np.float64)


def simulate(draws: int = 2000, queries: int = 300, runs: int = 3) -> None:
    """Share of 95% intervals excluding 0 between two equal systems, per setting of the seed
    effect's and the per-query run noise's standard deviations (logit scale)."""
    print(f"\n{draws} simulated pairs of equal systems, {queries} queries, {runs} seeds a side\n")
    print("| seed effect sd | run noise sd | queries only | queries and seeds |")
    print("|---:|---:|---:|---:|")
    for effect, noise in ((0.0, 0.5), (0.1, 1.0), (0.3, 1.0), (0.3, 0.3)):
        rng = np.random.default_rng(0)
        hits = np.zeros(2)
        for i in range(draws):
            difficulty = rng.normal(0.0, 2.0, queries)
            a, b = (_system(rng, difficulty, runs, effect, noise) for _ in range(2))
            means = paired_bootstrap([(a.mean(axis=0), b.mean(axis=0))], samples=500, seed=i)
            hits += [means.significant, seed_bootstrap([(a, b)], samples=500, seed=i).significant]
        print(f"| {effect} | {noise} | {hits[0] / draws:.1%} | {hits[1] / draws:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulate", action="store_true", help="add the simulated pairs")
    parser.add_argument(
        "--draws", type=int, default=2000, help="simulated pairs per setting (default 2000)"
    )
    args = parser.parse_args()
    cells = read_json(RESULTS)["cells"]
    splits = [(0, *rest) for rest in itertools.combinations(SEEDS[1:], 2)]
    print(f"{len(splits)} splits of seeds 0-5 into 3 + 3; counts of intervals excluding 0\n")
    print("| recipe | interval | per task | macro | matches holds | + ahead on 3 of 5 |")
    print("|---|---|---:|---:|---:|---:|")
    for recipe, per_seed in RECIPES.items():
        for seeds, label in ((False, "queries only"), (True, "queries and seeds")):
            task_hits = macro_hits = holds = holds_ahead = 0
            for a_seeds in splits:
                b_seeds = tuple(s for s in SEEDS if s not in a_seeds)
                a, b = _runs(cells, a_seeds, per_seed), _runs(cells, b_seeds, per_seed)
                ivs = [compare(a, b, [t], seeds=seeds) for t in TASKS]
                task_hits += sum(iv.significant for iv in ivs if iv)
                whole = compare(a, b, TASKS, seeds=seeds)
                assert whole is not None
                macro_hits += whole.significant
                matched = 100 * whole.low >= -MARGIN
                holds += matched
                holds_ahead += matched and sum(iv.delta > 0 for iv in ivs if iv) >= 3
            n = len(splits)
            print(
                f"| {recipe} | {label} | {task_hits} of {n * len(TASKS)} | {macro_hits} of {n} "
                f"| {holds} of {n} | {holds_ahead} of {n} |"
            )
    if args.simulate:
        simulate(args.draws)


if __name__ == "__main__":
    main()
