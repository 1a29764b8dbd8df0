"""Bootstrap intervals over queries, and over queries and training runs."""

from __future__ import annotations

import numpy as np
import pytest

from uniret.evaluation.significance import paired_bootstrap, seed_bootstrap


def test_one_run_a_side_is_the_paired_bootstrap_exactly() -> None:
    rng = np.random.default_rng(7)
    groups = [(rng.random(40), rng.random(40)), (rng.random(25), rng.random(25))]
    queries = paired_bootstrap(groups, samples=500, seed=3)
    runs = seed_bootstrap([([a], [b]) for a, b in groups], samples=500, seed=3)
    assert runs == queries
    assert runs.delta == pytest.approx(np.mean([np.mean(a - b) for a, b in groups]))


def test_seed_variance_widens_an_interval_the_queries_alone_leave_at_zero() -> None:
    # A's two runs score 1 and 0 on every query, B 0.5: the seed means are equal, so the
    # queries alone give [0, 0]. The runs redrawn move A's mean by +0.5 (run 1 twice, p = 1/4),
    # 0 (p = 1/2) or -0.5 (p = 1/4), scaled by sqrt(2 / 1) for two runs
    a, b = [[1.0] * 6, [0.0] * 6], [[0.5] * 6]
    queries = paired_bootstrap([(np.mean(a, axis=0), b[0])], samples=1000)
    assert (queries.low, queries.high) == (0.0, 0.0)
    runs = seed_bootstrap([(a, b)], samples=1000)
    assert runs.delta == 0.0 and not runs.significant
    assert (runs.low, runs.high) == pytest.approx((-np.sqrt(0.5), np.sqrt(0.5)))


def test_a_joint_side_draws_its_runs_once_for_every_group() -> None:
    # two tasks; A's run 1 scores 1 on both, run 2 scores 0 on both; B is 0.5. One model per
    # seed (joint): both tasks move together, the macro by ±0.71 with p = 1/4 each. One model
    # per task (drawn task by task): ±0.71 needs the same draw on both tasks (p = 1/16), and
    # the lower 10% quantile is -0.35 (one task moved, the other not)
    group = ([[1.0] * 5, [0.0] * 5], [[0.5] * 5])
    joint = seed_bootstrap([group, group], joint=(True, False), samples=2000, level=0.8)
    apart = seed_bootstrap([group, group], samples=2000, level=0.8)
    assert joint.delta == apart.delta == 0.0
    assert (joint.low, joint.high) == pytest.approx((-np.sqrt(0.5), np.sqrt(0.5)))
    assert (apart.low, apart.high) == pytest.approx((-np.sqrt(0.5) / 2, np.sqrt(0.5) / 2))


def test_runs_that_cannot_be_paired_are_refused() -> None:
    with pytest.raises(ValueError, match="equal, non-zero query sets"):
        seed_bootstrap([([[1.0, 0.0]], [[1.0]])])
    with pytest.raises(ValueError, match="same runs in every group"):
        seed_bootstrap([([[1.0], [0.0]], [[1.0]]), ([[1.0]], [[1.0]])], joint=(True, False))
    with pytest.raises(ValueError, match="at least one group"):
        seed_bootstrap([])


def test_paired_bootstrap_interval_over_queries() -> None:
    same = paired_bootstrap([([0.0, 1.0, 0.5], [0.0, 1.0, 0.5])], samples=100)
    assert (same.delta, same.low, same.high, same.significant) == (0.0, 0.0, 0.0, False)
    better = paired_bootstrap([([1.0] * 50, [0.0] * 25 + [1.0] * 25)], samples=500)
    assert better.delta == pytest.approx(0.5) and better.significant
    assert 0.3 < better.low < 0.5 < better.high < 0.7
    # macro over groups: the mean of the per-group differences
    two = paired_bootstrap([([1.0, 1.0], [0.0, 0.0]), ([0.0, 0.0], [0.0, 0.0])], samples=50)
    assert (two.delta, two.low, two.high) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap([([1.0], [1.0, 0.0])])
