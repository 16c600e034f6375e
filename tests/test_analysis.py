"""The headline comparison on cubes built by hand, where the answer is known exactly: the
numbers of the table against a computation by hand (its statistics are compare.py's, checked
cell by cell in test_compare_figures.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from rollout.analysis import format_headline, headline, never_median
from rollout.analysis.compare import wilson
from rollout.errors import RolloutError


def _cube(t_full: np.ndarray, t_stable: np.ndarray, net: np.ndarray) -> xr.Dataset:
    dims = ("strategy", "replicate")
    return xr.Dataset({"t_full": (dims, t_full), "t_stable": (dims, t_stable),
                       "net_benefit": (dims, net)},
                      coords={"strategy": ["big_bang", "phased"],
                              "replicate": np.arange(t_full.shape[1])},
                      attrs={"horizon_months": HORIZON})


HORIZON = 120.0


def test_headline_paired_difference_exact_mean_and_t_interval():
    """phased - big_bang = 1, 2, 3, 4 in t_full: mean 2.5 with a t interval on 3 degrees of
    freedom, in the row and in the printed table."""
    base = np.array([9.0, 10.0, 11.0, 16.0])
    phased = np.array([10.0, 12.0, 14.0, 20.0])
    ds = _cube(np.stack([base, phased]), np.stack([base, phased]), np.stack([base, phased]))
    for confidence in (0.95, 0.8):
        got = headline(ds, "big_bang", confidence)[1].diff["t_full"]
        half = stats.t.ppf(0.5 + confidence / 2, 3) * np.std([1, 2, 3, 4], ddof=1) / 2.0
        assert got.mean == pytest.approx(2.5, abs=1e-12)
        assert (got.low, got.high) == pytest.approx((2.5 - half, 2.5 + half), abs=1e-12)
        assert (got.n, got.excluded) == (4, 0)
    half = stats.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2.0
    text = format_headline(headline(ds, "big_bang"), "big_bang")
    assert f"+2.5 [{2.5 - half:+.1f}, {2.5 + half:+.1f}]" in text


def test_headline_paired_difference_counts_never_reached_pairs():
    """Pairs where a side never arrived are left out and counted; one pair left: a mean, no
    interval; none left: 'n/a'."""
    base = np.array([0.0, 2.0, np.nan, 1.0])
    phased = np.array([1.0, np.nan, 3.0, 5.0])
    one = np.array([np.nan, np.nan, 3.0, 4.0])
    ds = _cube(np.stack([base, phased]), np.stack([base, one]),
               np.stack([base, np.full(4, np.nan)]))
    row = headline(ds, "big_bang")[1]
    assert row.diff["t_full"].mean == pytest.approx(2.5)          # (1 - 0 + 5 - 1) / 2
    assert (row.diff["t_full"].n, row.diff["t_full"].excluded) == (2, 2)
    assert row.diff["t_stable"].mean == pytest.approx(3.0) and row.diff["t_stable"].n == 1
    assert math.isnan(row.diff["t_stable"].low)
    assert (row.diff["net_benefit"].n, row.diff["net_benefit"].excluded) == (0, 4)
    assert (row.reached["t_full"], row.reached["t_stable"]) == (3, 2)
    text = format_headline([headline(ds, "big_bang")[0], row], "big_bang")
    assert "+3.0 (1)" in text and "n/a" in text          # both reached: one pair, no interval
    assert "(2)" in text and "phased: t_full never reached in 1 of 4 replicates" in text


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
    z = stats.norm.ppf(0.975)                   # Wilson interval of 3 in 5, by hand
    centre = (0.6 + z * z / 10) / (1 + z * z / 5)
    spread = z * math.sqrt(0.6 * 0.4 / 5 + z * z / 100) / (1 + z * z / 5)
    assert phased.stable_first_ci == pytest.approx((centre - spread, centre + spread), abs=1e-12)
    assert phased.medians["t_full"] == 60.0
    assert rows["big_bang"].reached["t_full"] == 4
    text = format_headline(list(rows.values()), "big_bang")
    assert "phased" in text and "+10.0" in text and "never reached in 1 of 5" in text
    assert f"60% [{centre - spread:.0%}, {centre + spread:.0%}]" in text


def test_headline_rejects_unknown_baseline():
    ds = _cube(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(RolloutError, match="baseline 'nope' is not a strategy"):
        headline(ds, "nope")


def test_wilson_interval_covers_the_truth_at_the_nominal_rate():
    """Seed 3, 4000 binomial samples of n = 50, p = 0.3: coverage of the 95% Wilson interval is
    within 0.93-0.97 (its known near-nominal behaviour; sd of the estimate ~ 0.0035)."""
    rng = np.random.default_rng(3)
    draws = rng.binomial(50, 0.3, size=4000)
    low, high = wilson(draws, 50, 0.95)
    assert 0.93 <= np.mean((low <= 0.3) & (0.3 <= high)) <= 0.97
