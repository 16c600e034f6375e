"""Intervals that respect the design (analysis/clustering.py, pooled.py) and decided points
(analysis/decided.py), on synthetic designs whose truth is known.

Every stochastic check names its seed and its tolerance. The coverage checks draw 200 synthetic
designs: a binomial share of 0.95 over 200 draws has a standard deviation of 1.5 percentage
points, so "93-97%" is the issue's band (about +-1.3 sd) for the seed named, and the naive
intervals are required to cover far less (at most 80%), which no correct interval would.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rollout.analysis.clustering import (
    pooled_mean,
    pooled_naive,
    spearman_cluster_interval,
    spearman_fisher_interval,
)
from rollout.analysis.compare import wilson
from rollout.analysis.decided import (
    AGAINST,
    FOR,
    UNDECIDED,
    conjunction,
    counts,
    difference_decision,
    share_decision,
)

SEED = 20261206


def clustered_design(rng: np.random.Generator, clusters: int = 48, structures: int = 8,
                     r: float = 0.5, noise: float = 0.5) -> tuple[np.ndarray, ...]:
    """``clusters`` sampled points (X, Y) from a bivariate normal with correlation r, each run
    under ``structures`` switch combinations that leave X alone and add N(0, noise^2) to Y. The
    rows' population Spearman correlation is 6/pi asin(r'/2), r' = r / sqrt(1 + noise^2)."""
    xy = rng.multivariate_normal([0.0, 0.0], [[1.0, r], [r, 1.0]], clusters)
    x = np.repeat(xy[:, 0], structures)
    y = np.repeat(xy[:, 1], structures) + noise * rng.standard_normal(clusters * structures)
    return x, y, np.repeat(np.arange(clusters), structures)


def test_cluster_interval_covers_the_truth_and_the_naive_one_does_not() -> None:
    """200 synthetic designs of 48 sampled points x 8 structures (seed SEED, 500 resamples
    each): the cluster-bootstrap 95% interval of Spearman's rho covers the truth 93-97% of the
    time; Fisher's z with n = 384 rows covers at most 80% (it counts 8 rows per point)."""
    rng = np.random.default_rng(SEED)
    r, noise = 0.5, 0.5
    truth = 6 / math.pi * math.asin(r / math.sqrt(1 + noise**2) / 2)
    cluster = naive = 0
    for rep in range(200):
        x, y, groups = clustered_design(rng, r=r, noise=noise)
        _, low, high = spearman_cluster_interval(x, y, groups, 0.95, resamples=500, seed=rep)
        cluster += low <= truth <= high
        _, low, high = spearman_fisher_interval(x, y, 0.95)
        naive += low <= truth <= high
    assert 0.93 <= cluster / 200 <= 0.97, cluster
    assert naive / 200 <= 0.80, naive


def test_a_switch_that_changes_nothing_leaves_the_cluster_interval_alone() -> None:
    """Doubling every row (a switch that changes nothing) leaves the estimate and the cluster
    interval exactly as they were (the same seed draws the same clusters, and rows repeated
    within a cluster do not move Spearman's rho); the naive interval narrows by about sqrt(2)."""
    rng = np.random.default_rng(SEED + 1)
    x, y, groups = clustered_design(rng, clusters=40, structures=1)
    once = spearman_cluster_interval(x, y, groups, seed=7)
    twice = spearman_cluster_interval(np.repeat(x, 2), np.repeat(y, 2), np.repeat(groups, 2),
                                      seed=7)
    assert twice == pytest.approx(once, abs=1e-12)
    naive_once = spearman_fisher_interval(x, y)
    naive_twice = spearman_fisher_interval(np.repeat(x, 2), np.repeat(y, 2))
    width = (naive_once[2] - naive_once[1]) / (naive_twice[2] - naive_twice[1])
    assert width == pytest.approx(math.sqrt(2), rel=0.05)


def test_the_cluster_interval_is_keyed_by_its_seed() -> None:
    rng = np.random.default_rng(SEED + 2)
    x, y, groups = clustered_design(rng, clusters=30, structures=3)
    assert spearman_cluster_interval(x, y, groups, seed=3) == \
        spearman_cluster_interval(x, y, groups, seed=3)
    assert spearman_cluster_interval(x, y, groups, seed=3) != \
        spearman_cluster_interval(x, y, groups, seed=4)


def test_unequal_clusters_take_the_slow_path_with_the_same_answer_shape() -> None:
    """Clusters of different sizes (rows left out for NaN) are resampled one list at a time."""
    rng = np.random.default_rng(SEED + 3)
    x, y, groups = clustered_design(rng, clusters=30, structures=3)
    keep = np.ones(len(x), bool)
    keep[[0, 1, 5]] = False
    rho, low, high = spearman_cluster_interval(x[keep], y[keep], groups[keep], resamples=300)
    assert low < rho < high and -1 <= low and high <= 1


def test_pooled_mean_covers_with_shared_points_and_worlds() -> None:
    """A (point, replicate) array = point effect + world effect + noise (each sd 1), 24 sampled
    points x 4 structures x 12 worlds, true mean 0; 200 designs (seed SEED, 1,000 resamples):
    the two-way cluster interval covers 0 93-97% of the time, the naive t interval (1,152 cells
    as independent) at most 50%."""
    rng = np.random.default_rng(SEED)
    points, structures, worlds = 24, 4, 12
    groups = np.repeat(np.arange(points), structures)
    cluster = naive = 0
    for rep in range(200):
        v = (np.repeat(rng.normal(0, 1, points), structures)[:, None]
             + rng.normal(0, 1, worlds)[None, :] + rng.normal(0, 1, (points * structures, worlds)))
        p = pooled_mean(v, groups, 0.95, 1000, rep)
        cluster += p.low <= 0 <= p.high
        _, low, high = pooled_naive(v)
        naive += low <= 0 <= high
    assert 0.93 <= cluster / 200 <= 0.97, cluster
    assert naive / 200 <= 0.5, naive


def test_pooled_mean_leaves_out_missing_cells() -> None:
    v = np.array([[1.0, np.nan], [3.0, 5.0]])
    p = pooled_mean(v, np.array([0, 1]), resamples=200)
    assert p.mean == pytest.approx(3.0) and (p.points, p.clusters, p.replicates) == (2, 2, 2)


# ------------------------------------------------------------------------------ decided points
def test_decided_shares_by_hand() -> None:
    """Wins out of 12 replicates, 95% Wilson bounds: 10/12 has lower bound 0.552 (for), 9/12
    0.468 (undecided), 3/12 upper bound 0.532 (undecided), 2/12 0.448 (against)."""
    wins = np.array([12, 10, 9, 6, 3, 2, 0])
    low, high = wilson(wins, 12, 0.95)
    assert low[1] == pytest.approx(0.552, abs=1e-3) and low[2] == pytest.approx(0.468, abs=1e-3)
    assert high[4] == pytest.approx(0.532, abs=1e-3)
    assert high[5] == pytest.approx(0.448, abs=1e-3)
    decision = share_decision(low, high)
    assert decision.tolist() == [FOR, FOR, UNDECIDED, UNDECIDED, UNDECIDED, AGAINST, AGAINST]
    c = counts(decision, wins / 12 > 0.5)
    assert (c.significant_for, c.significant_against, c.undecided, c.point_estimate) == \
        (2, 2, 3, 3)
    assert "significant for 2, significant against 2, undecided 3 of 7" in c.describe(0.95)


def test_a_share_of_one_half_is_rarely_significant_but_often_a_majority() -> None:
    """True share 0.5 at 12 replicates: more than half the wins in 38.7% of points (binomial),
    significant for in 1.9% (10 or more wins). Simulated over 20,000 points (seed SEED; a
    binomial share of 0.387 has sd 0.0034 there, so tolerance 0.015)."""
    wins = np.random.default_rng(SEED).binomial(12, 0.5, 20_000)
    low, high = wilson(wins, 12, 0.95)
    decided = share_decision(low, high)
    assert (wins > 6).mean() == pytest.approx(1 - stats.binom.cdf(6, 12, 0.5), abs=0.015)
    assert (decided == FOR).mean() == pytest.approx(1 - stats.binom.cdf(9, 12, 0.5), abs=0.005)
    assert (decided == FOR).mean() < 0.025


def test_differences_and_conjunctions() -> None:
    low = np.array([0.5, -1.0, -3.0, np.nan])
    high = np.array([2.0, 1.0, -0.1, np.nan])
    assert difference_decision(low, high).tolist() == [FOR, UNDECIDED, AGAINST, UNDECIDED]
    a = np.array([FOR, FOR, FOR, UNDECIDED, AGAINST])
    b = np.array([FOR, UNDECIDED, AGAINST, AGAINST, UNDECIDED])
    assert conjunction(a, b).tolist() == [FOR, UNDECIDED, AGAINST, AGAINST, AGAINST]


def test_phase_map_cells_resample_points_and_worlds() -> None:
    """A cell of 4 points whose replicate worlds decide everything (point p wins in world r
    exactly when world r is a 'good' one, 6 of 12): 48 runs, but 12 independent worlds. Its
    interval (two-way bootstrap, seed 0) is at least 1.5 times the Wilson interval of 48
    independent runs; a cell of one point keeps that point's Wilson interval."""
    from rollout.analysis.phase_map import _two_way_cells

    worlds = np.array([1, 0] * 6, float)
    first = np.vstack([np.tile(worlds, (4, 1)), [[1.0] * 9 + [0.0] * 3]])
    ix = np.array([0, 0, 0, 0, 1])
    iy = np.array([0, 0, 0, 0, 1])
    low, high = _two_way_cells(first, ix, iy, 2)
    naive_low, naive_high = wilson(np.array([24]), 48, 0.95)
    assert high[0, 0] - low[0, 0] >= 1.5 * float(naive_high[0] - naive_low[0])
    one_low, one_high = wilson(np.array([9]), 12, 0.95)
    assert (low[1, 1], high[1, 1]) == pytest.approx((float(one_low[0]), float(one_high[0])))
    assert np.isnan(low[0, 1]) and np.isnan(high[1, 0])
