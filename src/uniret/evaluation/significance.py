"""Paired bootstrap confidence intervals for differences between two systems: over queries,
and over queries and training runs (seeds) where a system was trained more than once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A difference A − B with its bootstrap confidence interval (same units as the inputs)."""

    delta: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0


def paired_bootstrap(
    groups: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    samples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Paired bootstrap of the macro-averaged difference between systems A and B.

    Each group (a task) holds per-query scores ``(a_q, b_q)`` over the same queries. One
    bootstrap sample redraws the queries of every group with replacement and computes
    ``Δ* = (1/G) Σ_g mean_{q ∈ sample_g}(a_q − b_q)``; the interval is the central ``level``
    quantile range of Δ* over ``samples`` draws, and ``delta`` is Δ on the original queries.
    With one group this is the plain paired bootstrap of a mean difference.
    """
    if not groups:
        raise ValueError("paired_bootstrap needs at least one group")
    rng = np.random.default_rng(seed)
    deltas = []
    stats = np.zeros(samples)
    for a, b in groups:
        diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
        if len(a) != len(b) or diff.size == 0:
            raise ValueError(f"paired scores need equal, non-zero lengths (got {len(a)}, {len(b)})")
        deltas.append(diff.mean())
        draws = rng.integers(0, diff.size, size=(samples, diff.size))
        stats += diff[draws].mean(axis=1)
    stats /= len(groups)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return Interval(float(np.mean(deltas)), float(low), float(high))


def seed_bootstrap(
    groups: Sequence[tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]]],
    *,
    joint: tuple[bool, bool] = (False, False),
    samples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Paired bootstrap of the macro difference between systems A and B over queries *and*
    training runs, for systems trained with several seeds.

    Each group (a task) holds A's runs ``a_{r,q}`` (``r = 1..m``, one row per run) and B's runs
    ``b_{s,q}`` (``s = 1..n``) over the same queries. One bootstrap sample redraws ``m`` of A's
    runs and ``n`` of B's with replacement, and, independently, the queries of every group
    (queries and runs are crossed, not nested: a pigeonhole bootstrap, Owen 2007, which errs
    wide), and computes
    ``Δ* = (1/G) Σ_g mean_{q ∈ Q*_g} (mean_{r ∈ R*} a_{r,q} − mean_{s ∈ S*} b_{s,q})``.
    ``joint[i]``: side i's runs are whole models that each serve every group (one multi-task
    model per seed), so one draw of its runs holds for all groups; otherwise each group draws
    its own (one model per task, trained apart). ``delta`` is Δ of the seed-averaged scores.
    The queries are drawn as :func:`paired_bootstrap` draws them, so with one run a side the
    interval is exactly that one: a single run says nothing about seed variance.
    """
    if not groups:
        raise ValueError("seed_bootstrap needs at least one group")
    rng = np.random.default_rng(seed)
    run_rng = np.random.default_rng([seed, 1])
    tables = [
        (
            np.atleast_2d(np.asarray(a, dtype=np.float64)),
            np.atleast_2d(np.asarray(b, dtype=np.float64)),
        )
        for a, b in groups
    ]
    for a, b in tables:
        if a.shape[1] != b.shape[1] or a.shape[1] == 0 or not (len(a) and len(b)):
            raise ValueError(
                f"paired scores need runs over equal, non-zero query sets "
                f"(got {a.shape[1]} and {b.shape[1]} queries)"
            )
    for side in (0, 1):
        if joint[side] and len({t[side].shape[0] for t in tables}) > 1:
            raise ValueError("a joint side needs the same runs in every group")

    def weights(runs: int) -> np.ndarray:
        """Each sample's multiplicity of every run, as averaging weights: ``(samples, runs)``."""
        drawn = run_rng.integers(0, runs, size=(samples, runs))
        return np.stack([np.bincount(row, minlength=runs) for row in drawn]) / runs

    shared = [weights(tables[0][side].shape[0]) if joint[side] else None for side in (0, 1)]
    deltas = []
    stats = np.zeros(samples)
    for a, b in tables:
        diff = a.mean(axis=0) - b.mean(axis=0)
        deltas.append(diff.mean())
        draws = rng.integers(0, diff.size, size=(samples, diff.size))
        wa = shared[0] if shared[0] is not None else weights(a.shape[0])
        wb = shared[1] if shared[1] is not None else weights(b.shape[0])
        drawn_diff = wa @ a - wb @ b  # (samples, queries): each sample's redrawn runs
        stats += np.take_along_axis(drawn_diff, draws, axis=1).mean(axis=1)
    stats /= len(tables)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return Interval(float(np.mean(deltas)), float(low), float(high))
