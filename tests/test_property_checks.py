"""The checks of MODEL.md section 10 over ranges of parameters, not at one point.

``tests/test_model_checks.py`` runs each check on one hand-picked case; here hypothesis draws
the cases (hazards, region counts, severities, learning times, horizons, preparation laws,
seeds, replicate indices, shifts) and every drawn case must pass.

Reproducibility. Every ``@settings`` uses ``derandomize=True`` and ``database=None``: hypothesis
then derives its examples from the test's own source, so the same examples are drawn on every run
and machine. That is the "seed" of the example choice. Inside an example the model seed is itself
drawn by hypothesis (``config.seed``, 0 .. 2**63 - 1) and is named in every assertion message;
replicates are numbered 0, 1, ... under that seed.

Tolerances. Closed forms hold to 1e-9 relative. Distribution laws are checked with
Kolmogorov-Smirnov tests and exact tests of the mean (a sum of unit exponentials is Gamma(n, 1); a
count of a Poisson process is Poisson). There are ``N_STAT_TESTS`` such tests in this file (at
most ``max_examples`` examples each, times the tests per example); with Bonferroni every one runs
at ``ALPHA = (1e-3 - CENSOR_BUDGET) / N_STAT_TESTS``, so that a correct model fails some test of
this file, for some choice of seeds, with probability at most 1e-3 in all. ``CENSOR_BUDGET``
bounds the chance that a sample runs past the horizon (the horizons are set so that it is < 1e-5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from conftest import (
    PLAIN_ONLY,
    event_times,
    make_config,
    merge,
    one_region_dict,
    run_one,
    small_dict,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rollout.config import RolloutConfig
from rollout.data import load_provinces
from rollout.experiment.runner import SERIES_FIELDS, SUMMARY_FIELDS, run_experiment
from rollout.model.simulation import EVENT_KINDS, RunResult, Simulation
from rollout.model.world import DefectTraits, World, build_world

# ---------------------------------------------------------------------------- multiplicity
FAMILY_ALPHA = 1e-3        # false-alarm probability of the whole file, for a correct model
CENSOR_BUDGET = 1e-5       # part of it spent on samples censored by the horizon (see below)
EXAMPLES_ONE = 10          # one region: 4 tests per example
EXAMPLES_MANY = 8          # n regions: 2 tests per example
EXAMPLES_PREP = 8          # slowest region: 1 test per example
N_STAT_TESTS = 4 * EXAMPLES_ONE + 2 * EXAMPLES_MANY + 1 * EXAMPLES_PREP
ALPHA = (FAMILY_ALPHA - CENSOR_BUDGET) / N_STAT_TESTS   # per test (Bonferroni): 64 tests, 1.5e-5
TAIL = 22.0                # horizons give each sample integrated hazard >= 22: P(censor) < 3e-10
SEEDS = st.integers(min_value=0, max_value=2**63 - 1)

#: Provinces with few regions (Beijing 1, Hainan 4, Ningxia 5, Tibet 7, Qinghai 8): fast runs.
SMALL_PROVINCES = ("Beijing", "Hainan", "Ningxia", "Tibet", "Qinghai")
DETECT, PAY = EVENT_KINDS.index("detect"), EVENT_KINDS.index("pay")


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats spread evenly on a log scale (hazards and scales span decades)."""
    return st.floats(math.log(low), math.log(high)).map(math.exp)


def provinces_strategy(max_size: int = 3) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(SMALL_PROVINCES), min_size=1, max_size=max_size, unique=True)


def two_sided_gamma_p(total: float, n: int) -> float:
    """Exact two-sided p-value of a sum of n unit exponentials (Gamma(n, 1))."""
    return min(1.0, 2.0 * min(stats.gamma.cdf(total, n), stats.gamma.sf(total, n)))


def two_sided_poisson_p(count: int, mean: float) -> float:
    """Exact two-sided p-value (doubled smaller tail) of a Poisson count."""
    return min(1.0, 2.0 * min(stats.poisson.cdf(count, mean), stats.poisson.sf(count - 1, mean)))


def horizon_for(rate: float) -> int:
    """A horizon (whole months, <= 1200) by which a process of this rate has fired with
    probability 1 - exp(-TAIL)."""
    return int(min(1200, max(12, math.ceil(TAIL / rate))))


def worlds(config: RolloutConfig, replicates: int) -> list[World]:
    provinces = load_provinces(config)
    return [build_world(config, provinces, config.seed, r) for r in range(replicates)]


def same_result(a: RunResult, b: RunResult) -> None:
    """Bit-identical series, summaries (NaN == NaN) and event logs."""
    for name in SERIES_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.summary.keys() == b.summary.keys()
    for key, value in a.summary.items():
        other = b.summary[key]
        assert value == other or (math.isnan(value) and math.isnan(other)), (key, value, other)
    assert a.events == b.events


def signature(traits: DefectTraits) -> tuple:
    return (traits.key, traits.kind, traits.severity, traits.detectability, traits.tau_learn,
            traits.tau_unlearn, tuple(traits.contexts), tuple(traits.fix_uniforms))


def ramp_integral(x: np.ndarray, tau: float) -> np.ndarray:
    """Integral over [0, x] of the exploitation 1 - exp(-a / tau) (x for tau = 0), x >= 0."""
    x = np.clip(x, 0.0, None)
    return x + tau * np.expm1(-x / tau) if tau > 0.0 else x


# ------------------------------------------------------------ (1) one region, constant hazard
@settings(max_examples=EXAMPLES_ONE, deadline=None, derandomize=True, database=None)
@given(detectability=log_uniform(0.02, 2.0), capacity=st.floats(0.1, 1.0), seed=SEEDS)
def test_one_region_detections_are_a_poisson_process_of_rate_h(detectability: float,
                                                               capacity: float,
                                                               seed: int) -> None:
    """One region of capacity k, one universal plain defect of detectability h_d, paying from
    t ~ 0: detections are a Poisson process of constant rate h = h_d k. The first detection is
    Exp(h) (KS and exact mean test on h (T1 - t_pay) ~ Exp(1)), the number of detections by the
    horizon is Poisson(sum h (H - t_pay)), and given the count the times are uniform (KS).
    400 replicates of the drawn seed; every test at the Bonferroni ALPHA."""
    n = 400
    h = detectability * capacity
    horizon = horizon_for(h)
    cfg = make_config(one_region_dict(
        seed=seed, defects={"detectability_median": detectability},
        regions={"capacity_low": capacity, "capacity_high": capacity},
        time={"horizon_months": horizon, "step_months": 12}))
    firsts, spread, count, exposure = [], [], 0, 0.0
    for world in worlds(cfg, n):
        assert world.capacity[0] == pytest.approx(capacity, rel=1e-15)
        h = detectability * float(world.capacity[0])
        result, _ = run_one(cfg, replicate=world.replicate, record_events=True, world=world)
        (pay,) = event_times(result, "pay")
        assert pay < 1e-4, f"seed {seed}: preparation should be ~instant, paid at {pay}"
        times = np.array(event_times(result, "detect"))
        assert times.size, f"seed {seed} rep {world.replicate}: censored (P < 3e-10)"
        firsts.append(h * (times[0] - pay))
        spread.extend((times - pay) / (horizon - pay))
        count += times.size
        exposure += h * (horizon - pay)
    where = f"h_d={detectability:.4g}, k={capacity:.4g}, seed={seed}, H={horizon}, n={n}, " \
        f"ALPHA={ALPHA:.2g}"
    ks = stats.kstest(firsts, "expon")
    assert ks.pvalue > ALPHA, f"first detection not Exp(h): KS p={ks.pvalue:.2g} ({where})"
    p_mean = two_sided_gamma_p(float(np.sum(firsts)), n)
    assert p_mean > ALPHA, f"mean first detection {np.mean(firsts) / h:.4g} vs {1 / h:.4g} " \
        f"(exact Gamma p={p_mean:.2g}; {where})"
    p_count = two_sided_poisson_p(count, exposure)
    assert p_count > ALPHA, f"{count} detections vs Poisson mean {exposure:.1f} " \
        f"(p={p_count:.2g}; {where})"
    ks_u = stats.kstest(spread, "uniform")
    assert ks_u.pvalue > ALPHA, f"detection times not uniform given the count: " \
        f"KS p={ks_u.pvalue:.2g} ({where})"


# ------------------------------------------------------------ (2) n identical regions
@settings(max_examples=EXAMPLES_MANY, deadline=None, derandomize=True, database=None)
@given(h=log_uniform(0.005, 0.5), provinces=provinces_strategy(), units=st.integers(1, 3),
       seed=SEEDS)
def test_first_detection_among_n_identical_units_is_exponential_with_n_times_the_rate(
        h: float, provinces: list[str], units: int, seed: int) -> None:
    """n units of capacity 1 (the drawn provinces' regions, each split into ``units`` hospitals
    that share their region's hazard by volume, s_u), one universal defect: the first detection
    anywhere has survival exp(-h sum_u s_u (t - pay_u)+), i.e. Exp(R h) for R regions, whatever
    the number of hospitals, up to the (microscopic) spread of pay times. The integrated hazard
    at the first detection is tested against Exp(1): KS and exact mean, 800 replicates,
    Bonferroni ALPHA."""
    n_rep = 800
    n_regions = sum({"Beijing": 1, "Hainan": 4, "Ningxia": 5, "Tibet": 7, "Qinghai": 8}[p]
                    for p in provinces)
    n_units = n_regions * units
    horizon = horizon_for(n_regions * h)
    cfg = make_config(one_region_dict(
        seed=seed, regions={"provinces": provinces, "units_per_region": units},
        defects={"detectability_median": h},
        time={"horizon_months": horizon, "step_months": 12}))
    hazards = []
    for world in worlds(cfg, n_rep):
        assert world.n_units == n_units and np.all(world.capacity == 1.0)
        _, sim = run_one(cfg, replicate=world.replicate, world=world)
        pays = np.array(sim.units.first_paid)
        assert pays.max() < 1e-4, f"seed {seed}: every unit pays from ~0 (max {pays.max()})"
        first = sim.centre.tracks[0].first_detected[0]
        assert first < math.inf, f"seed {seed} rep {world.replicate}: censored (P < 3e-10)"
        region_weight = np.bincount(world.unit_region, world.weight)[world.unit_region]
        share = world.weight / region_weight
        hazards.append(h * float((share * np.clip(first - pays, 0.0, None)).sum()))
    where = f"n={n_units}, h={h:.4g}, seed={seed}, H={horizon}, reps={n_rep}, ALPHA={ALPHA:.2g}"
    ks = stats.kstest(hazards, "expon")
    assert ks.pvalue > ALPHA, f"first detection not Exp(R h): KS p={ks.pvalue:.2g} ({where})"
    p_mean = two_sided_gamma_p(float(np.sum(hazards)), n_rep)
    assert p_mean > ALPHA, f"mean first detection x R h = {np.mean(hazards):.4g} vs 1 " \
        f"(exact Gamma p={p_mean:.2g}; {where})"


# ------------------------------------------------------------ (3) no detection can act
#: Learning time constants: 0 (instant), exactly 1 (once mishandled: the dummy slot of
#: distinct_taus), or 0.05 .. 200 months.
TAUS = st.one_of(st.just(0.0), st.just(1.0), log_uniform(0.05, 200.0))


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(taus=st.lists(TAUS, min_size=1, max_size=3), count=st.integers(1, 6),
       severity=log_uniform(1e-3, 10.0), sigma=st.floats(0.0, 1.5),
       universal=st.floats(0.0, 1.0), horizon=st.integers(1, 600),
       prep=log_uniform(1e-6, 24.0), provinces=provinces_strategy(2),
       units=st.integers(1, 3), h=log_uniform(1e-3, 0.2),
       benefit=st.one_of(st.just(0.0), st.floats(1e-6, 5.0)),   # no subnormal rates
       log_all=st.booleans(), seed=SEEDS)
def test_harm_without_effective_detection_equals_its_closed_form(
        taus: list[float], count: int, severity: float, sigma: float, universal: float,
        horizon: int, prep: float, provinces: list[str], units: int, h: float, benefit: float,
        log_all: bool, seed: int) -> None:
    """Reports and local patches off, so detections (which do happen) change nothing and no
    release comes: each unit u paying from p_u accrues harm w_u sum_d s_d R(t - p_u; tau_d),
    R(x; tau) = x - tau (1 - exp(-x / tau)) (the learning ramp; x when tau = 0), summed over the
    defects manifesting in its context, and benefit b w_u (t - p_u)+. Defects of up to three kinds
    with their own tau_learn; tolerance 1e-9 relative at every grid time and in the totals, with
    and without the full event log. Deterministic: no sampling tolerance needed."""
    kind_names = ("grouping_error", "upcoding", "cost_shifting")
    kinds = {name: {"share": 0.0} for name in PLAIN_ONLY}
    for name, tau in zip(kind_names, taus, strict=False):
        kinds[name] = {"share": 1.0, "tau_learn": tau, "tau_unlearn": 12.0,
                       "detectability_factor": 1.0, "severity_factor": 1.0}
    cfg = make_config(one_region_dict(
        seed=seed, time={"horizon_months": horizon},
        regions={"provinces": provinces, "capacity_low": 0.35, "capacity_noise": 0.15,
                 "weight_dispersion": 0.5, "units_per_region": units},
        preparation={"mean_months": prep},
        operation={"benefit_rate": benefit},
        defects={"fixed_count": count, "severity_median": severity, "severity_sigma": sigma,
                 "universal_prob": universal, "detectability_median": h, "kinds": kinds}))
    result, sim = run_one(cfg, record_events=log_all)
    world, traits = sim.world, sim.centre.tracks[0].traits
    assert len(traits) == count
    assert result.summary["releases"] == 0.0, f"seed {seed}: nothing known, nothing released"
    pays = np.array(sim.units.first_paid)
    grid = sim.recorder.grid
    x = grid[:, None] - np.where(np.isnan(pays), np.inf, pays)[None, :]   # (G, N)
    harm = np.zeros_like(x)
    for d in traits:
        manifests = d.contexts[world.context]
        harm += d.severity * manifests[None, :] * ramp_integral(x, d.tau_learn)
    harm *= world.weight[None, :]
    by_prov = np.stack([harm[:, world.unit_province == p].sum(axis=1)
                        for p in range(sim.n_provinces)], axis=1)
    where = f"seed {seed}, taus {taus}, H {horizon}"
    np.testing.assert_allclose(result.harm, by_prov, rtol=1e-9, atol=0.0, err_msg=where)
    benefit_u = benefit * world.weight[None, :] * np.clip(x, 0.0, None)
    by_prov_b = np.stack([benefit_u[:, world.unit_province == p].sum(axis=1)
                          for p in range(sim.n_provinces)], axis=1)
    np.testing.assert_allclose(result.benefit, by_prov_b, rtol=1e-9, atol=0.0, err_msg=where)
    assert result.summary["harm_total"] == pytest.approx(by_prov[-1].sum(), rel=1e-9, abs=0.0)
    assert result.summary["benefit_total"] == pytest.approx(by_prov_b[-1].sum(), rel=1e-9,
                                                            abs=0.0)
    assert result.summary["defects_fixed"] == 0.0


@pytest.mark.parametrize("tau", [1.0, 9.0])
def test_learning_time_of_exactly_one_month_is_a_ramp(tau: float) -> None:
    """The closed form above at tau_learn = 1 month: harm s R(t - p; 1), not s (t - p). (A tau
    of exactly 1 once mapped to the dummy slot 0 of distinct_taus, so learning was instant.)"""
    kinds = {name: {"share": 0.0} for name in PLAIN_ONLY}
    kinds["grouping_error"] = {"share": 1.0, "tau_learn": tau, "tau_unlearn": 12.0}
    cfg = make_config(one_region_dict(time={"horizon_months": 12},
                                      defects={"fixed_count": 1, "kinds": kinds}))
    result, sim = run_one(cfg)
    expected = sim.centre.tracks[0].traits[0].severity \
        * ramp_integral(sim.recorder.grid - sim.units.first_paid[0], tau)
    np.testing.assert_allclose(result.harm[:, 0], expected, rtol=1e-9)


# ------------------------------------------------------------ (4) no defects, big bang
def no_defect_dict(seed: int, provinces: Sequence[str], mean: float, shape: float,
                   exponent: float, **extra: dict) -> dict:
    """Big bang alone on the drawn provinces, no defects, the drawn preparation law."""
    data = small_dict(seed=seed, replicates=1, tracks=["DRG"],
                      regions={"provinces": list(provinces)},
                      defects={"fixed_count": 0},
                      preparation={"mean_months": mean, "shape": shape,
                                   "capacity_exponent": exponent})
    data["strategies"] = {"big_bang": {}}
    return merge(data, extra)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(provinces=provinces_strategy(), mean=log_uniform(0.05, 24.0), shape=log_uniform(0.3, 30.0),
       exponent=st.floats(0.0, 2.0), benefit=log_uniform(0.01, 5.0),
       dispersion=st.floats(0.0, 1.5), units=st.integers(1, 3),
       threshold=st.sampled_from([1.0, 0.99, 0.9]), horizon=st.integers(1, 240), seed=SEEDS)
def test_no_defects_big_bang_is_full_when_the_slowest_region_is_ready(
        provinces: list[str], mean: float, shape: float, exponent: float, benefit: float,
        dispersion: float, units: int, threshold: float, horizon: int, seed: int) -> None:
    """No defects: each region pays at its readiness mean / k^g x G (G its world draw), coverage
    is the volume share paying at every grid time, t_full is the exact first time that share
    reaches the threshold (the slowest region's readiness for threshold 1; NaN when the horizon
    comes first), harm is exactly zero and benefit is b sum_r w_r (t - ready_r)+ (1e-9)."""
    cfg = make_config(no_defect_dict(
        seed, provinces, mean, shape, exponent, time={"horizon_months": horizon},
        operation={"benefit_rate": benefit}, outcomes={"coverage_threshold": threshold},
        regions={"provinces": provinces, "weight_dispersion": dispersion,
                 "units_per_region": units}))
    result, sim = run_one(cfg, record_events=True)
    world = sim.world
    ready = mean / world.capacity ** exponent * world.prep_factor      # closed form, no events
    pays = np.full(sim.n_units, np.inf)
    for row in result.events:
        if row[1] == PAY:
            pays[row[3]] = row[0]
    where = f"seed {seed}, provinces {provinces}, H {horizon}"
    inside = ready <= horizon
    np.testing.assert_allclose(pays[inside], ready[inside], rtol=1e-12, err_msg=where)
    assert np.all(np.isinf(pays[~inside])), where
    assert np.all(result.harm == 0.0) and result.summary["harm_total"] == 0.0, where

    grid = sim.recorder.grid
    paying = grid[:, None] >= pays[None, :]
    cov = np.stack([(paying * world.weight)[:, world.unit_province == p].sum(axis=1)
                    for p in range(sim.n_provinces)], axis=1) / sim.provinces.weight
    np.testing.assert_allclose(result.coverage, cov, rtol=1e-12, atol=1e-12, err_msg=where)
    gain = benefit * world.weight * np.clip(grid[:, None] - pays[None, :], 0.0, None)
    gain_p = np.stack([gain[:, world.unit_province == p].sum(axis=1)
                       for p in range(sim.n_provinces)], axis=1)
    np.testing.assert_allclose(result.benefit, gain_p, rtol=1e-9, atol=0.0, err_msg=where)
    total = benefit * float((world.weight * np.clip(horizon - pays, 0.0, None)).sum())
    assert result.summary["benefit_total"] == pytest.approx(total, rel=1e-9, abs=0.0), where

    order = np.argsort(ready)
    reached = np.flatnonzero(np.cumsum(world.weight[order]) >= threshold - 1e-12)
    t_full = float(ready[order][reached[0]])
    if threshold == 1.0:
        assert t_full == ready.max(), where                        # the slowest region
    t_full = t_full if t_full <= horizon else math.nan
    got = result.summary["t_full"]
    if math.isnan(t_full):
        assert math.isnan(got), f"{where}: t_full {got} but coverage never reaches {threshold}"
        assert math.isnan(result.summary["t_stable"]), where
    else:
        assert got == pytest.approx(t_full, rel=1e-12, abs=1e-12), where
        # coverage binds (there is no harm), so t_stable is t_full exactly
        assert result.summary["t_stable"] == pytest.approx(got, rel=1e-12, abs=1e-12), where


def test_no_defects_t_stable_is_exactly_t_full() -> None:
    """MODEL.md section 9: t_stable is the first time from which coverage stays at or above the
    threshold and the harm rate stays below 5% of the benefit rate. Without defects harm is 0
    from the start, so t_stable = t_full exactly (docs/model.md: exact when coverage binds). One
    region ready at 5.34 months: the model once reported 6.0, because grid times 1..5 (before
    anyone pays, benefit rate 0) counted as failing the harm condition."""
    cfg = make_config(one_region_dict(defects={"fixed_count": 0},
                                      preparation={"mean_months": 5.5, "shape": 1000.0}))
    result, _ = run_one(cfg)
    t_full = result.summary["t_full"]
    assert 0.0 < t_full < 6.0 and t_full != round(t_full)
    assert result.summary["t_stable"] == pytest.approx(t_full, rel=1e-12)


@settings(max_examples=EXAMPLES_PREP, deadline=None, derandomize=True, database=None)
@given(provinces=provinces_strategy(), mean=log_uniform(0.5, 12.0), shape=log_uniform(1.0, 20.0),
       exponent=st.floats(0.0, 1.5), seed=SEEDS)
def test_no_defects_time_to_full_coverage_has_the_law_of_the_slowest_region(
        provinces: list[str], mean: float, shape: float, exponent: float, seed: int) -> None:
    """Readiness of unit u is mean / k_u^g x Gamma(a, 1/a) independently, so big bang's t_full
    (threshold 1) has CDF prod_u F_a(t k_u^g a / mean). Its probability integral transform over
    200 replicates is tested against U(0, 1) (KS, Bonferroni ALPHA). Capacity noise 0, so the
    capacities are the same in every replicate; the horizon leaves each unit a chance < 1e-10
    of not being ready."""
    n_rep = 200
    probe = make_config(no_defect_dict(seed, provinces, mean, shape, exponent))
    cap = worlds(probe, 1)[0].capacity
    slowest = mean / cap.min() ** exponent * stats.gamma.ppf(1 - 1e-10, shape) / shape
    horizon = int(min(1200, max(12, math.ceil(slowest) + 1)))   # >= step (see the report)
    cfg = make_config(no_defect_dict(
        seed, provinces, mean, shape, exponent,
        regions={"provinces": provinces, "capacity_noise": 0.0},
        time={"horizon_months": horizon, "step_months": 12},
        outcomes={"coverage_threshold": 1.0}))
    pit = []
    for world in worlds(cfg, n_rep):
        result, _ = run_one(cfg, replicate=world.replicate, world=world)
        t_full = result.summary["t_full"]
        assert not math.isnan(t_full), f"seed {seed} rep {world.replicate}: censored (P<1e-8)"
        scaled = t_full * world.capacity ** exponent / mean
        pit.append(float(np.prod(stats.gamma.cdf(scaled, shape, scale=1.0 / shape))))
    ks = stats.kstest(pit, "uniform")
    assert ks.pvalue > ALPHA, f"t_full not the slowest unit's law: KS p={ks.pvalue:.2g} " \
        f"(seed {seed}, mean {mean:.3g}, shape {shape:.3g}, g {exponent:.3g}, {provinces})"


# ------------------------------------------------------------ (5) common random numbers
@settings(max_examples=6, deadline=None, derandomize=True, database=None)
@given(seed=SEEDS, replicate=st.integers(0, 10**6))
def test_every_strategy_meets_the_same_world_within_a_replicate(seed: int,
                                                                replicate: int) -> None:
    """Within a replicate the world (weights, capacities, contexts, preparation draws, defects
    and their detection luck) is a function of (seed, replicate) only: two builds agree, running
    strategies never mutates it, each strategy gets the same results in a shared world (as the
    runner does) as in a freshly built one, and every defect key (also those born in releases)
    has the same traits in every strategy. A different replicate is a different world."""
    cfg = make_config(small_dict(seed=seed))
    provinces = load_provinces(cfg)
    shared = build_world(cfg, provinces, seed, replicate)
    pristine = build_world(cfg, provinces, seed, replicate)
    fields = ("weight", "capacity", "context", "prep_factor", "unit_province", "unit_region")
    runs: dict[str, Simulation] = {}
    for name in cfg.strategies:
        result, runs[name] = run_one(cfg, name, replicate=replicate, world=shared)
        fresh, _ = run_one(cfg, name, replicate=replicate,
                           world=build_world(cfg, provinces, seed, replicate))
        same_result(result, fresh)
    for name in fields:
        np.testing.assert_array_equal(getattr(shared, name), getattr(pristine, name),
                                      err_msg=f"{name}, seed {seed}, replicate {replicate}")
    for t in range(len(cfg.tracks)):
        assert [signature(d) for d in shared.initial_defects[t]] == \
            [signature(d) for d in pristine.initial_defects[t]]
        for d in pristine.initial_defects[t]:
            np.testing.assert_array_equal(shared.luck(t, d.key), pristine.luck(t, d.key))
        seen: dict[tuple, tuple] = {}
        for name, sim in runs.items():
            for traits in sim.centre.tracks[t].traits:
                assert seen.setdefault(traits.key, signature(traits)) == signature(traits), \
                    f"defect {traits.key} differs in {name} (seed {seed}, rep {replicate})"
    other = build_world(cfg, provinces, seed, replicate + 1)
    assert not np.array_equal(other.prep_factor, shared.prep_factor), "replicates must differ"


@settings(max_examples=10, deadline=None, derandomize=True, database=None)
@given(seed=SEEDS, replicate=st.integers(0, 1000), factor_s=log_uniform(0.1, 10.0),
       factor_h=log_uniform(0.1, 10.0))
def test_parameters_transform_the_same_standardised_draws(seed: int, replicate: int,
                                                          factor_s: float,
                                                          factor_h: float) -> None:
    """Common random numbers across parameter values (sweeps): scaling the severity and
    detectability medians scales every defect's severity and detectability by exactly that
    factor and leaves kinds, contexts, weights and capacities alone (1e-12 relative)."""
    base = small_dict(seed=seed)
    cfg_a = make_config(base)
    d = cfg_a.defects
    cfg_b = make_config(small_dict(seed=seed, defects={
        "severity_median": d.severity_median * factor_s,
        "detectability_median": d.detectability_median * factor_h}))
    provinces = load_provinces(cfg_a)
    a = build_world(cfg_a, provinces, seed, replicate)
    b = build_world(cfg_b, provinces, seed, replicate)
    np.testing.assert_array_equal(a.capacity, b.capacity)
    np.testing.assert_array_equal(a.weight, b.weight)
    for ta, tb in zip(a.initial_defects, b.initial_defects, strict=True):
        assert len(ta) == len(tb)
        for x, y in zip(ta, tb, strict=True):
            assert (x.key, x.kind, tuple(x.contexts)) == (y.key, y.kind, tuple(y.contexts))
            assert y.severity == pytest.approx(x.severity * factor_s, rel=1e-12)
            assert y.detectability == pytest.approx(x.detectability * factor_h, rel=1e-12)


def add_months(start: str, months: int) -> str:
    year, month = map(int, start.split("-"))
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(whole=st.integers(1, 48), fraction=st.sampled_from([0.0, 0.0, 0.3, 0.75]),
       count=st.integers(1, 5), universal=st.floats(0.0, 1.0), patch=st.floats(0.0, 1.0),
       tau=TAUS, prep=log_uniform(1e-6, 12.0), seed=SEEDS, replicate=st.integers(0, 1000))
def test_a_design_started_k_months_later_meets_the_same_luck_k_months_later(
        whole: int, fraction: float, count: int, universal: float, patch: float, tau: float,
        prep: float, seed: int, replicate: int) -> None:
    """Big bang against the same design started k months later (wave date k months on, minus a
    fractional lead, so k need not be whole): every event (start, ready, pay, detect, local
    patch) of every unit and defect happens exactly k months later (1e-7 months), and for whole k
    the harm and benefit series are the early ones shifted by k (1e-9 relative). Reports are off
    (a release would start the centre's clock at t = 0, which is not shifted), local patches on
    with the drawn probability. Hebei, 11 regions with noisy capacities; deterministic."""
    k = whole - fraction
    horizon = 120
    kinds = PLAIN_ONLY | {"grouping_error": {"share": 1.0, "tau_learn": tau,
                                             "tau_unlearn": 6.0}}
    data = one_region_dict(
        seed=seed, time={"horizon_months": horizon},
        regions={"provinces": ["Hebei"], "capacity_low": 0.35, "capacity_noise": 0.15},
        preparation={"mean_months": prep},
        defects={"fixed_count": count, "universal_prob": universal, "detectability_median": 0.2,
                 "kinds": kinds},
        learning={"report_prob": 0.0, "local_patch_prob": patch})
    data["strategies"] = {"big_bang": {},
                          "late": {"preset": "big_bang",
                                   "wave_dates": [add_months("2019-01", whole)],
                                   "wave_lead_months": fraction}}
    cfg = make_config(data)
    world = build_world(cfg, load_provinces(cfg), seed, replicate)
    early, _ = run_one(cfg, "big_bang", replicate=replicate, record_events=True, world=world)
    late, _ = run_one(cfg, "late", replicate=replicate, record_events=True, world=world)
    cut = horizon - k - 1e-6

    def unit_events(result: RunResult, shift: float) -> list[tuple]:
        return sorted((row[1], row[3], row[5], row[0] - shift) for row in result.events
                      if row[3] >= 0 and row[0] - shift < cut)

    e, lt = unit_events(early, 0.0), unit_events(late, k)
    where = f"k={k}, seed {seed}, replicate {replicate}"
    assert [r[:3] for r in e] == [r[:3] for r in lt], where
    np.testing.assert_allclose([r[3] for r in e], [r[3] for r in lt], rtol=0, atol=1e-7,
                               err_msg=where)
    assert sum(r[0] == PAY for r in e) > 0, where    # something to compare
    if any(d.contexts[world.context].any() for d in world.initial_defects[0]):
        assert sum(r[0] == DETECT for r in e) > 0, where   # P(none) < 1e-9 at this hazard
    if fraction == 0.0:
        np.testing.assert_allclose(late.harm[whole:], early.harm[:-whole], rtol=1e-9, atol=0.0,
                                   err_msg=where)
        np.testing.assert_allclose(late.benefit[whole:], early.benefit[:-whole], rtol=1e-9,
                                   atol=0.0, err_msg=where)
        assert np.all(late.harm[:whole] == 0.0) and np.all(late.benefit[:whole] == 0.0), where


# ------------------------------------------------------------ (6) determinism
@settings(max_examples=4, deadline=None, derandomize=True, database=None)
@given(seed=SEEDS, mean_count=st.floats(0.0, 20.0), report=st.floats(0.0, 1.0))
def test_same_config_and_seed_give_the_same_results(seed: int, mean_count: float,
                                                    report: float) -> None:
    """Run the whole experiment (four designs, two replicates) twice, serially, in one process:
    identical series and summaries (NaN where NaN); and a run with the event log twice gives
    the same log. A different seed gives different results (so the comparison can fail)."""
    cfg = make_config(small_dict(seed=seed, replicates=2,
                                 defects={"mean_count": mean_count},
                                 learning={"report_prob": report}))
    provinces = load_provinces(cfg)
    one = run_experiment(cfg, provinces, workers=1)
    two = run_experiment(cfg, provinces, workers=1)
    for name in SERIES_FIELDS:
        np.testing.assert_array_equal(one.series[name], two.series[name],
                                      err_msg=f"{name}, seed {seed}")
    for name in SUMMARY_FIELDS:
        np.testing.assert_array_equal(one.summary[name], two.summary[name],
                                      err_msg=f"{name}, seed {seed}")
    first, _ = run_one(cfg, "phased", replicate=1, record_events=True)
    again, _ = run_one(cfg, "phased", replicate=1, record_events=True)
    same_result(first, again)
    other = make_config(small_dict(seed=seed ^ 1, replicates=2,
                                   defects={"mean_count": mean_count},
                                   learning={"report_prob": report}))
    third = run_experiment(other, provinces, workers=1)
    assert not np.array_equal(one.series["benefit"], third.series["benefit"]), seed
