"""Paired bootstrap confidence intervals for differences between two systems."""

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
