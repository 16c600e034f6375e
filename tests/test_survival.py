"""Censoring-aware contrasts (analysis/survival.py, compare.py) on synthetic cubes whose
censoring is known: exact numbers by hand, and a large exponential case against its closed form.

The stochastic check names its seed (20261203) and tolerance: within 4 standard errors, on 4,000
replicates.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from rollout.analysis.compare import compare
from rollout.analysis.headline import format_headline, headline
from rollout.analysis.survival import km_median
from rollout.errors import RolloutError

NAN = math.nan
METRICS = ("t_full", "t_stable", "net_benefit")


def cube(t_full, t_stable=None, horizon: float = 100.0) -> xr.Dataset:
    t_full = np.asarray(t_full, float)
    t_stable = t_full if t_stable is None else np.asarray(t_stable, float)
    dims = ("strategy", "replicate")
    return xr.Dataset(
        {"t_full": (dims, t_full), "t_stable": (dims, t_stable),
         "net_benefit": (dims, np.zeros_like(t_full))},
        coords={"strategy": ["big_bang", "phased"], "replicate": np.arange(t_full.shape[1])},
        attrs={"config": json.dumps({"time": {"horizon_months": horizon}})})


def test_restricted_difference_uses_every_pair_by_hand():
    """H = 100. big_bang 10, 20, 30, never, 50; phased 15, never, 40, never, 45: restricted
    diffs 5, 80, 10, 0, -5 (mean 18, t interval on 4 df); both reached: 5, 10, -5 (mean 10/3);
    phased censored in 2 of 5."""
    bb = [10, 20, 30, NAN, 50]
    ph = [15, NAN, 40, NAN, 45]
    res = compare(cube([bb, ph]), "big_bang", METRICS).sel(strategy="phased")
    d = np.array([5, 80, 10, 0, -5], float)
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert float(res["rdiff_t_full"]) == pytest.approx(18.0, abs=1e-12)
    assert float(res["rlow_t_full"]) == pytest.approx(18.0 - half, abs=1e-12)
    assert float(res["rhigh_t_full"]) == pytest.approx(18.0 + half, abs=1e-12)
    assert float(res["rmean_t_full"]) == pytest.approx((15 + 100 + 40 + 100 + 45) / 5)
    assert float(res["censored_t_full"]) == pytest.approx(0.4)
    assert float(res["diff_t_full"]) == pytest.approx(10 / 3, abs=1e-12)
    assert int(res["pairs_t_full"]) == 3


def test_kaplan_meier_median_with_censoring_at_the_horizon_by_hand():
    """10 runs, 3 never: the survival curve falls by 1/10 at each of the 7 times and reaches
    1/2 at the 5th (7); the median is that of the times with never = +inf, (7 + 9) / 2 = 8 (the
    number plain tools give on the cube); lifelines' interval contains it. With 6 never: not
    reached (inf); with none: the plain median."""
    times = [7, 3, NAN, 9, 1, 5, NAN, 2, 11, NAN]
    median, low, high = km_median(np.array(times, float), horizon=100.0)
    assert median == 8.0 == float(np.median(np.where(np.isnan(times), np.inf, times)))
    assert low <= median <= high
    assert km_median(np.array([1, 2, 3, 4, NAN, NAN, NAN, NAN, NAN, NAN]), 100.0)[0] == math.inf
    assert km_median(np.full(4, NAN), 100.0) == (math.inf, math.inf, math.inf)
    assert km_median(np.array([4.0, 1.0, 3.0, 2.0]), 100.0)[0] == 2.5
    assert km_median(np.array([4.0, 1.0, np.inf, 2.0, 3.0]), 100.0)[0] == 3.0   # inf = never
    # a time beyond the horizon counts as censored at it
    assert km_median(np.array([1.0, 2.0, 150.0, 160.0, 170.0]), 100.0)[0] == math.inf


def test_exponential_times_censored_at_the_horizon_match_their_closed_forms():
    """Seed 20261203, 4,000 replicates: big_bang T ~ Exp(mean 30), phased T ~ Exp(mean 50),
    independent, censored at H = 60. Restricted mean difference = 50 (1 - e^-1.2) - 30 (1 -
    e^-2) = 9.00; phased's Kaplan-Meier median = 50 ln 2 = 34.66 (SE 1 / (2 f(m) sqrt(n)) =
    0.79); censored share e^-1.2 = 0.301. Each within 4 SE; the interval covers the truth. The
    mean over pairs where both finished (3.53 expected) is biased: off by more than 4 SE."""
    rng = np.random.default_rng(20261203)
    n, horizon = 4000, 60.0
    bb, ph = rng.exponential(30.0, n), rng.exponential(50.0, n)
    bb[bb > horizon], ph[ph > horizon] = NAN, NAN
    res = compare(cube([bb, ph], horizon=horizon), "big_bang", METRICS,
                  km=True).sel(strategy="phased")
    truth = 50 * (1 - math.exp(-1.2)) - 30 * (1 - math.exp(-2.0))
    diff = float(res["rdiff_t_full"])
    se = (float(res["rhigh_t_full"]) - diff) / stats.t.ppf(0.975, n - 1)
    assert abs(diff - truth) < 4 * se, (diff, truth, se)
    assert float(res["rlow_t_full"]) < truth < float(res["rhigh_t_full"])
    median = float(res["km_median_t_full"])
    assert abs(median - 50 * math.log(2)) < 4 * 0.79, median
    assert float(res["km_low_t_full"]) < 50 * math.log(2) < float(res["km_high_t_full"])
    share = math.exp(-1.2)
    assert abs(float(res["censored_t_full"]) - share) < 4 * math.sqrt(share * (1 - share) / n)
    both = float(res["diff_t_full"])
    assert abs(both - truth) > 4 * se and both == pytest.approx(3.53, abs=1.0)


def test_headline_reports_kaplan_meier_medians_and_restricted_differences():
    bb = [10, 20, 30, NAN, 50]
    ph = [15, NAN, 40, NAN, NAN]
    rows = headline(cube([bb, ph]), "big_bang")
    phased = rows[1]
    assert rows[0].medians["t_full"] == 30.0 and math.isinf(phased.medians["t_full"])
    assert phased.restricted["t_full"].mean == pytest.approx((5 + 80 + 10 + 0 + 50) / 5)
    assert phased.restricted["t_full"].n == 5
    text = format_headline(rows, "big_bang")
    assert "never" in text and "+29.0 [" in text and "both reached" in text
    assert "30.0 [" in text                                  # big bang's median with its CI


def test_a_cube_without_a_horizon_is_refused():
    ds = cube([[1.0, 2.0], [3.0, 4.0]])
    ds.attrs = {}
    with pytest.raises(RolloutError, match="horizon"):
        compare(ds, "big_bang", METRICS)


def test_plain_xarray_and_pandas_medians_equal_the_headline_on_a_real_cube(tmp_path):
    """A real cube (small config, 7 replicates, a 40-month horizon so that some runs never reach
    full coverage): the median of t_full and t_stable computed by plain xarray and by pandas
    on the stored values equals rollout's headline median for every strategy, 'never' (inf)
    included; never-reached runs are stored as +inf, not NaN."""
    from conftest import small_dict

    import rollout

    ds = rollout.run(rollout.load_config(_write(tmp_path, small_dict(
        replicates=7, time={"start": "2019-01", "horizon_months": 40}))))
    assert not np.isnan(ds["t_full"].values).any()
    assert np.isinf(ds["t_full"].values).any() and np.isfinite(ds["t_full"].values).any()
    rows = {r.strategy: r for r in headline(ds, "big_bang")}
    frame = ds[["t_full", "t_stable"]].to_dataframe()
    for s in ds["strategy"].values:
        for m in ("t_full", "t_stable"):
            plain = float(ds[m].sel(strategy=s).median("replicate"))
            by_pandas = float(frame.xs(s, level="strategy")[m].median())
            assert plain == by_pandas == rows[str(s)].medians[m], (s, m)


def _write(folder, data):
    import tomli_w

    path = folder / "c.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def test_a_time_after_the_horizon_is_censored_everywhere():
    """H = 100, phased 150 and 160 (after the horizon) against 50 and 60: counted as never in
    the censored share and the both-reached mean, capped at H in the restricted difference."""
    res = compare(cube([[50.0, 60.0], [150.0, 160.0]]), "big_bang", METRICS).sel(
        strategy="phased")
    assert float(res["censored_t_full"]) == 1.0 and int(res["pairs_t_full"]) == 0
    assert float(res["rdiff_t_full"]) == pytest.approx(45.0)
