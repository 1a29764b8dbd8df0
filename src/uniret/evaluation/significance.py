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
    With one group this is the plain paired bootstrap of a mean difference. (It is
    :func:`seed_bootstrap` with one run a side.)
    """
    return seed_bootstrap([([a], [b]) for a, b in groups], samples=samples, level=level, seed=seed)


def seed_bootstrap(
    groups: Sequence[tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]]],
    *,
    joint: tuple[bool, bool] = (False, False),
    samples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Bootstrap of the macro difference between systems A and B over queries *and* training
    runs, for systems trained with several seeds.

    Each group (a task) holds A's runs ``a_{r,q}`` (``r = 1..m``, one row per run) and B's runs
    ``b_{s,q}`` (``s = 1..n``) over the same queries. With ``d_q = mean_r a_{r,q} −
    mean_s b_{s,q}`` (seeds averaged per query) and ``ā_r`` the mean of run r over the
    group's queries, one bootstrap sample redraws the queries Q* as :func:`paired_bootstrap`
    does and, independently, m of A's runs R* and n of B's runs S* with replacement:
    ``Δ* = (1/G) Σ_g [mean_{q ∈ Q*} d_q + c_m (mean_{r ∈ R*} ā_r − mean_r ā_r)
    − c_n (mean_{s ∈ S*} b̄_s − mean_s b̄_s)]``, ``c_m = sqrt(m / (m − 1))`` (the bootstrap
    of a mean of m values has variance (m − 1)/m of the unbiased estimate), 0 for one run.
    The queries' spread and the seeds' spread add, as independent sources of variance do;
    redrawing the runs inside the query draw instead would count each run's per-query noise
    twice. ``joint[i]``: side i's runs are whole models that each serve every group (one
    multi-task model per seed), so one draw of its runs holds for all groups; otherwise each
    group draws its own (one model per task, trained apart). ``delta`` is Δ of the
    seed-averaged scores. With one run a side this is :func:`paired_bootstrap` exactly: a
    single run says nothing about seed variance.
    """
    if not groups:
        raise ValueError("a bootstrap needs at least one group")
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

    def redrawn(runs: int) -> np.ndarray:
        """Each sample's share of every run among ``runs`` drawn with replacement."""
        drawn = run_rng.integers(0, runs, size=(samples, runs))
        return (drawn[:, :, None] == np.arange(runs)).sum(axis=1) / runs

    shared = [redrawn(tables[0][side].shape[0]) if joint[side] else None for side in (0, 1)]
    deltas = []
    stats = np.zeros(samples)
    for a, b in tables:
        diff = a.mean(axis=0) - b.mean(axis=0)
        deltas.append(diff.mean())
        draws = rng.integers(0, diff.size, size=(samples, diff.size))
        stats += diff[draws].mean(axis=1)
        for sign, runs, share in ((1.0, a, shared[0]), (-1.0, b, shared[1])):
            m = runs.shape[0]
            if m < 2:
                continue
            means = runs.mean(axis=1)  # each run's mean over the group's queries
            share = share if share is not None else redrawn(m)
            stats += sign * np.sqrt(m / (m - 1)) * (share @ means - means.mean())
    stats /= len(tables)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return Interval(float(np.mean(deltas)), float(low), float(high))
