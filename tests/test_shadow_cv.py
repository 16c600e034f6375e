"""Pilot (and wave) shadow times that differ between units (issue 12; docs/model.md sections 5
and 9): unit u shadows for S_u = m G_u, G_u the inverse Gamma(1 / cv^2, scale cv^2) CDF of the
unit's own uniform in the replicate's "shadow" stream (mean 1, CV cv). cv 0 is S_u = m exactly,
with no draw.

Observed shadow time = first payment - first operation: a unit in shadow cannot be suspended,
so its shadow is never interrupted."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, REPO, run_one
from scipy import stats

from rollout.config import load_config
from rollout.experiment.designs import build_design, point_config

HISTORICAL = REPO / "configs" / "historical.toml"
NATIONAL = REPO / "configs" / "national.toml"


def _shadows(sim, units) -> np.ndarray:
    units_ = sim.units
    return np.array([units_.first_paid[u] - units_.first_operating[u] for u in units])


def _pilots(sim) -> list[int]:
    return [u for u in range(sim.units.n) if sim.units.is_pilot[u]]


def test_cv_zero_is_the_fixed_shadow_and_draws_nothing() -> None:
    """cv 0 (the default; the historical config's calibrated cv set back to 0): every pilot
    shadows exactly pilot_shadow_months, so the DRG pilots ready by shadow_from 2021-03 all
    begin paying at one instant, none by 2021-05 (the target the calibration used to miss); the
    shadow stream is never drawn. (Bit-identity of whole results: tests/test_reference_cubes.)"""
    assert load_config(NATIONAL).strategies["phased"].pilot_shadow_cv == 0.0    # the default
    config = load_config(HISTORICAL, {"strategies.historical.pilot_shadow_cv": 0.0})
    strategy = config.strategies["historical"]
    assert strategy.pilot_shadow_cv == 0.0 and strategy.wave_shadow_cv == 0.0
    from rollout.model.shadow_times import _factors

    drawn = _factors.cache_info().misses
    result, sim = run_one(config, "historical", replicate=0)
    pilots = _pilots(sim)
    assert len(pilots) == 101
    assert np.allclose(_shadows(sim, pilots), strategy.pilot_shadow_months, rtol=0, atol=1e-9)
    drg = [u for u in pilots if sim.units.track[u] == config.tracks.index("DRG")]
    paid = np.array([sim.units.first_paid[u] for u in drg])
    together = 26.0 + strategy.pilot_shadow_months        # 2021-03 (month 26) + m
    assert paid.min() == pytest.approx(together) and paid.min() > 29.0   # none by 2021-05
    assert np.sum(np.isclose(paid, together)) >= 25      # all but stragglers at one instant
    assert _factors.cache_info().misses == drawn          # the shadow stream never drawn


def test_drawn_shadow_times_have_the_closed_form_mean_and_cv() -> None:
    """cv 0.6, mean 7 months, 101 pilots x 20 replicates (seed 20190101 from the config) = 2020
    draws. Closed form: mean m, CV cv; tolerance 4 standard errors each (mean: cv / sqrt(n) of
    m; sample CV: cv sqrt((2 + 6 cv^2) / 4n), the gamma's kurtosis 3 + 6 cv^2); and a
    Kolmogorov-Smirnov test against Gamma(1 / cv^2, scale m cv^2) at p > 0.001."""
    cv, mean = 0.6, 7.0
    config = load_config(HISTORICAL, {"strategies.historical.pilot_shadow_cv": cv,
                                      "strategies.historical.pilot_shadow_months": mean})
    draws = []
    for r in range(20):
        _, sim = run_one(config, "historical", replicate=r)
        draws.append(_shadows(sim, _pilots(sim)))
    s = np.concatenate(draws)
    n = len(s)
    assert n == 2020 and np.all(np.isfinite(s))
    se_mean = cv / math.sqrt(n)
    se_cv = cv * math.sqrt((2 + 6 * cv ** 2) / (4 * n))
    assert abs(s.mean() / mean - 1) < 4 * se_mean
    assert abs(s.std(ddof=1) / s.mean() - cv) < 4 * se_cv
    shape = 1 / cv ** 2
    assert stats.kstest(s, stats.gamma(a=shape, scale=mean / shape).cdf).pvalue > 1e-3
    # the DRG pilots no longer all begin paying together
    assert len(np.unique(np.round(draws[0], 9))) == len(draws[0])


def test_same_unit_draws_the_same_standardised_shadow_across_strategies() -> None:
    """Common random numbers: a unit's shadow / mean is the same number in every strategy
    (other pilots, other means, pilot or wave unit); at another cv its rank among units is
    the same (one uniform per unit, inverted)."""
    config = load_config(NATIONAL, {
        "strategies.a": {"preset": "phased", "pilot_shadow_cv": 0.5, "pilot_shadow_months": 6.0,
                         "wave_shadow_months": 2.0, "wave_shadow_cv": 0.5},
        "strategies.b": {"preset": "phased", "pilot_shadow_cv": 0.5, "pilot_shadow_months": 9.0,
                         "selection": "convenience", "evaluation_months": 3.0},
        "strategies.c": {"preset": "phased", "pilot_shadow_cv": 1.0},
    })
    sims = {name: run_one(config, name, replicate=3)[1] for name in ("a", "b", "c")}
    a, b, c = sims["a"], sims["b"], sims["c"]
    std_a = {u: s / (6.0 if a.units.is_pilot[u] else 2.0)
             for u, s in zip(range(a.units.n), _shadows(a, range(a.units.n)), strict=True)
             if np.isfinite(s)}
    pilots_b = _pilots(b)
    std_b = dict(zip(pilots_b, _shadows(b, pilots_b) / 9.0, strict=True))
    both = sorted(set(std_b) & set(std_a))
    as_wave_in_a = [u for u in both if not a.units.is_pilot[u]]
    assert len(both) == len(pilots_b) == 30 and len(as_wave_in_a) >= 10
    assert np.allclose([std_a[u] for u in both], [std_b[u] for u in both], rtol=1e-9, atol=0)
    pilots_a = _pilots(a)
    assert _pilots(c) == pilots_a
    ranks = stats.spearmanr(_shadows(a, pilots_a), _shadows(c, pilots_a)).statistic
    assert ranks == pytest.approx(1.0)
    assert not np.allclose(_shadows(a, pilots_a) / 6.0, _shadows(c, pilots_a) / 6.0)


@pytest.mark.parametrize("value", ["-0.1", "nan", "inf", "5.5", '"0.5"'])
def test_bad_cv_is_one_line_naming_file_and_field(tmp_path: Path, value: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[regions]\ndata = "{DATA}"\n\n[strategies.big_bang]\n\n'
                    f"[strategies.phased]\npilot_shadow_cv = {value}\n")
    done = subprocess.run([sys.executable, "-m", "rollout.cli", "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"rollout: error: {path}: strategies.phased.pilot_shadow_cv: ")


def test_cv_is_sweepable() -> None:
    """A sweep varies the CV like any numeric primitive (a grid dimension named by its path)."""
    config = load_config(HISTORICAL, {"sweep": {"parameters": {
        "strategies.historical.pilot_shadow_cv": [0.0, 0.5]}}})
    design = build_design(config)
    values = sorted(point_config(config, point).strategies["historical"].pilot_shadow_cv
                    for point in design.points)
    assert values == [0.0, 0.5]
