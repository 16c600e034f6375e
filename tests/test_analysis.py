"""The headline comparison on cubes built by hand, where the answer is known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from rollout.analysis import (
    format_headline,
    headline,
    never_median,
    paired_difference,
    wilson_interval,
)
from rollout.errors import RolloutError


def _cube(t_full: np.ndarray, t_stable: np.ndarray, net: np.ndarray) -> xr.Dataset:
    dims = ("strategy", "replicate")
    return xr.Dataset({"t_full": (dims, t_full), "t_stable": (dims, t_stable),
                       "net_benefit": (dims, net)},
                      coords={"strategy": ["big_bang", "phased"],
                              "replicate": np.arange(t_full.shape[1])})


def test_paired_difference_exact_mean_and_t_interval():
    a = np.array([10.0, 12.0, 14.0, 20.0])
    b = np.array([9.0, 10.0, 11.0, 16.0])
    d = a - b                                   # 1, 2, 3, 4
    got = paired_difference(a, b, 0.95)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2.0
    assert got.mean == pytest.approx(2.5)
    assert (got.low, got.high) == pytest.approx((2.5 - half, 2.5 + half))
    assert (got.n, got.excluded) == (4, 0)


def test_paired_difference_counts_never_reached_pairs():
    a = np.array([1.0, np.nan, 3.0, 5.0])
    b = np.array([0.0, 2.0, np.nan, 1.0])
    got = paired_difference(a, b)
    assert got.mean == pytest.approx(2.5) and got.n == 2 and got.excluded == 2


def test_never_median_counts_nan_as_never():
    assert never_median(np.array([1.0, 2.0, np.nan])) == 2.0
    assert math.isinf(never_median(np.array([1.0, np.nan, np.nan])))


def test_headline_on_known_cube():
    base_full = np.array([30.0, 40.0, 50.0, 60.0, np.nan])
    phased_full = base_full + 10.0
    phased_full[4] = 80.0
    base_stable = np.array([70.0, 80.0, np.nan, 90.0, np.nan])
    phased_stable = np.array([60.0, 85.0, 100.0, 70.0, np.nan])
    net = np.array([[50.0, 60.0, 70.0, 80.0, 90.0], [55.0, 65.0, 75.0, 85.0, 95.0]])
    ds = _cube(np.stack([base_full, phased_full]), np.stack([base_stable, phased_stable]), net)
    rows = {r.strategy: r for r in headline(ds, "big_bang")}
    phased = rows["phased"]
    assert phased.diff["t_full"].mean == pytest.approx(10.0)
    assert phased.diff["t_full"].excluded == 1
    assert phased.diff["net_benefit"].mean == pytest.approx(5.0)
    assert phased.diff["net_benefit"].low == pytest.approx(5.0)      # zero spread
    # stable first: replicate 0 (60<70), 2 (100 < never), 3 (70<90); not 1 (85>80), 4 (tie)
    assert phased.stable_first == pytest.approx(3 / 5)
    assert phased.medians["t_full"] == 60.0
    assert rows["big_bang"].reached["t_full"] == 4
    text = format_headline(list(rows.values()), "big_bang")
    assert "phased" in text and "+10.0" in text and "never reached in 1 of 5" in text


def test_headline_rejects_unknown_baseline():
    ds = _cube(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(RolloutError, match="baseline 'nope' is not a strategy"):
        headline(ds, "nope")


def test_wilson_interval_covers_the_truth_at_the_nominal_rate():
    """Seed 3, 4000 binomial samples of n = 50, p = 0.3: coverage of the 95% Wilson interval is
    within 0.93-0.97 (its known near-nominal behaviour; sd of the estimate ~ 0.0035)."""
    rng = np.random.default_rng(3)
    hits = 0
    draws = rng.binomial(50, 0.3, size=4000)
    for k in draws:
        lo, hi = wilson_interval(int(k), 50)
        hits += lo <= 0.3 <= hi
    assert 0.93 <= hits / len(draws) <= 0.97


def test_t_interval_covers_a_known_mean():
    """Seed 5, 2000 synthetic paired samples of size 30 with true mean difference 1.5: the 95%
    interval covers it in 0.93-0.97 of them."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(2000):
        base = rng.normal(50, 10, 30)
        other = base + rng.normal(1.5, 4.0, 30)
        got = paired_difference(other, base)
        hits += got.low <= 1.5 <= got.high
    assert 0.93 <= hits / 2000 <= 0.97
