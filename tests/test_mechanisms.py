"""Each mechanism of the engine (MODEL.md sections 5-7) on a case small enough to know the answer.

Deterministic checks are exact or to 1e-9 (relative where stated). Every stochastic check names
its seed (the config's ``seed``, replicate 0 unless stated) and its tolerance: a mean within
4 standard errors of the hand-computed value (SE from the distribution's own sd, not the sample's)
and/or a Kolmogorov-Smirnov test at alpha = 0.01, on 400 or more i.i.d. draws.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import (
    event_times,
    make_config,
    merge,
    one_region_dict,
    run_one,
    small_dict,
)
from scipy import stats

from rollout.model.simulation import (
    EVALUATION,
    EVENT_KINDS,
    PAYING,
    PILOT,
    RECALIBRATION,
    SCALE_UP,
    SHADOW,
    STAGES,
    SUSPENDED_STAGE,
    Simulation,
)
from rollout.model.simulation import SUSPENDED as UNIT_SUSPENDED
from rollout.strategies.controller import run_strategy

N_DRAWS = 400
Z = 4.0            # tolerance of every mean check, in standard errors
ALPHA = 0.01       # significance level of every KS test
REL = 1e-9         # relative tolerance of every closed form

#: One gaming defect kind only (cost shifting: tau_learn 9, tau_unlearn 12, detectability x1).
GAMING_ONLY = {name: {"share": 0.0} for name in (
    "grouping_error", "weight_miscalibration", "upcoding", "patient_selection",
    "split_admissions")} | {"cost_shifting": {"share": 1.0, "detectability_factor": 1.0,
                                              "tau_learn": 9.0, "tau_unlearn": 12.0}}


def rows(result, kind: str, unit: int | None = None) -> list[tuple]:
    """Event-log rows (time, kind, province, unit, track, defect, version, defect kind, phase)
    of one kind."""
    code = EVENT_KINDS.index(kind)
    return [r for r in result.events if r[1] == code and (unit is None or r[3] == unit)]


def grid(config) -> np.ndarray:
    """Times of the sampling grid (row i of a RunResult array is time grid[i])."""
    step = config.time.step_months
    return np.arange(step, config.time.horizon_months + 1, step, dtype=float)


def assert_mean(draws, expected: float, sd: float, what: str, seed: int) -> None:
    """|mean - expected| < Z standard errors, SE = sd / sqrt(n) with the model's sd."""
    draws = np.asarray(draws, float)
    se = sd / math.sqrt(len(draws))
    assert abs(draws.mean() - expected) < Z * se, (
        f"{what}: mean {draws.mean():.4f} vs {expected:.4f}, tolerance {Z} SE = {Z * se:.4f} "
        f"(n={len(draws)}, seed {seed})")


def assert_ks(draws, cdf, what: str, seed: int) -> None:
    pvalue = stats.kstest(np.asarray(draws, float), cdf).pvalue
    assert pvalue > ALPHA, f"{what}: KS p = {pvalue:.2g} <= alpha {ALPHA} (seed {seed})"


# ------------------------------------------------------------------------------ preparation
@pytest.mark.parametrize(("seed", "k", "mean", "shape", "g"), [
    (11, 1.0, 6.0, 4.0, 1.0),
    (12, 0.5, 6.0, 4.0, 1.0),
    (13, 0.5, 3.0, 9.0, 2.0),
    (14, 0.4, 6.0, 2.0, 0.0),    # exponent 0: capacity does not matter
])
def test_preparation_time_is_gamma_with_mean_T_over_k_to_the_g(seed, k, mean, shape, g):
    """Ready - start ~ Gamma(shape, mean T / k^g) for 400 identical hospitals (seeds 11-14):
    mean within 4 SE (sd = mean / sqrt(shape)) and KS at alpha 0.01."""
    cfg = make_config(one_region_dict(
        seed=seed, time={"horizon_months": 600},
        regions={"units_per_region": N_DRAWS, "capacity_low": k, "capacity_high": k},
        preparation={"mean_months": mean, "shape": shape, "capacity_exponent": g},
        defects={"fixed_count": 0}))
    res, _ = run_one(cfg, record_events=True)
    start = {r[3]: r[0] for r in rows(res, "start")}
    ready = {r[3]: r[0] for r in rows(res, "ready")}
    assert sorted(start) == sorted(ready) == list(range(N_DRAWS))
    assert set(start.values()) == {0.0}
    prep = np.array([ready[u] - start[u] for u in range(N_DRAWS)])
    expected = mean / k ** g
    assert_mean(prep, expected, expected / math.sqrt(shape), "preparation time", cfg.seed)
    assert_ks(prep, stats.gamma(shape, scale=expected / shape).cdf, "preparation time", cfg.seed)


# ------------------------------------------------------------------------------ shadow
def test_shadow_lasts_its_length_and_gives_no_benefit_nor_harm():
    """Big bang with 4 months of shadow, one region (weight 1), one plain defect (s = 0.25):
    pay - shadow = 4 (1e-9); benefit and harm are 0 before paying and (t - t_pay), s (t - t_pay)
    after it, exactly (1e-9)."""
    shadow = 4.0
    cfg = make_config(one_region_dict(
        strategies={"big_bang": {"preset": "big_bang", "wave_shadow_months": shadow}}))
    res, sim = run_one(cfg, record_events=True)
    (t_shadow,), (t_pay,) = event_times(res, "shadow", 0), event_times(res, "pay", 0)
    assert t_pay - t_shadow == pytest.approx(shadow, abs=1e-9)
    t = grid(cfg)
    s = cfg.defects.severity_median
    np.testing.assert_allclose(res.benefit[:, 0], np.maximum(0.0, t - t_pay), rtol=REL, atol=1e-9)
    np.testing.assert_allclose(res.harm[:, 0], s * np.maximum(0.0, t - t_pay), rtol=REL, atol=1e-9)
    assert res.coverage[t < t_pay, 0].max() == 0.0
    assert res.coverage[t > t_pay, 0].min() == 1.0
    assert res.summary["t_full"] == pytest.approx(t_pay, abs=1e-12)


@pytest.mark.parametrize("factor", [0.5, 0.2])
def test_detection_in_shadow_is_exponential_with_rate_h_k_f_shadow(factor):
    """400 plain defects in one region (capacity 0.8) that stays in shadow to the horizon: each
    defect's first detection after the shadow start ~ Exp(h k f_shadow) (seed 11; mean within
    4 SE, sd = mean; KS alpha 0.01), and equals threshold / rate exactly (1e-9)."""
    h, k = 0.5, 0.8
    cfg = make_config(one_region_dict(
        time={"horizon_months": 240},
        regions={"capacity_low": k, "capacity_high": k},
        defects={"fixed_count": N_DRAWS, "detectability_median": h},
        operation={"shadow_detection_factor": factor},
        strategies={"big_bang": {"preset": "big_bang", "wave_shadow_months": 1000.0}}))
    res, sim = run_one(cfg, record_events=True)
    (t_shadow,) = event_times(res, "shadow", 0)
    assert event_times(res, "pay") == []
    first = {}
    for r in rows(res, "detect"):
        first.setdefault(r[5], r[0])
    assert sorted(first) == list(range(N_DRAWS)), "every defect should be found (mean <= 12.5)"
    wait = np.array([first[d] - t_shadow for d in range(N_DRAWS)])
    rate = h * k * factor
    ts = sim.centre.tracks[0]
    thresholds = np.array([sim.world.luck(0, ts.keys[d])[0, 0, 0] for d in range(N_DRAWS)])
    np.testing.assert_allclose(wait, thresholds / rate, rtol=REL)
    assert_mean(wait, 1.0 / rate, 1.0 / rate, "first detection in shadow", cfg.seed)
    assert_ks(wait, stats.expon(scale=1.0 / rate).cdf, "first detection in shadow", cfg.seed)
    assert res.harm.max() == 0.0 and res.benefit.max() == 0.0


@pytest.mark.parametrize("hospitals", [1, 4, 10])
def test_a_regions_detection_hazard_does_not_depend_on_its_hospitals(hospitals):
    """One region split into H hospitals (capacity 0.8, no capacity noise, dispersed volumes),
    400 plain defects, all in shadow to the horizon (factor 0.5): hospital u detects defect d at
    rate h k f s_u, s_u its share of the region's volume, so each defect's first detection in the
    region is the minimum over hospitals of shadow start + threshold / (h k f s_u) (exact, 1e-9)
    and ~ Exp(h k f) for every H (seed 11; mean within 4 SE, sd = mean; KS alpha 0.01). The
    centre's evidence (exposure) is the region's, k f x months in shadow, for every H (1e-6: the
    hospitals' starts differ by their near-instant preparations)."""
    h, k, factor = 0.5, 0.8, 0.5
    cfg = make_config(one_region_dict(
        time={"horizon_months": 240},
        regions={"capacity_low": k, "capacity_high": k, "units_per_region": hospitals,
                 "weight_dispersion": 0.5},
        defects={"fixed_count": N_DRAWS, "detectability_median": h},
        operation={"shadow_detection_factor": factor},
        strategies={"big_bang": {"preset": "big_bang", "wave_shadow_months": 1000.0}}))
    res, sim = run_one(cfg, record_events=True)
    shadow = {u: event_times(res, "shadow", u)[0] for u in range(hospitals)}
    assert event_times(res, "pay") == []
    share = sim.world.weight / sim.world.weight.sum()
    assert hospitals == 1 or share.std() > 0.0, "hospital volumes should differ"
    first = {}
    for r in rows(res, "detect"):
        first.setdefault(r[5], r[0])
    assert sorted(first) == list(range(N_DRAWS))
    ts = sim.centre.tracks[0]
    expected = np.array([min(shadow[u] + sim.world.luck(0, ts.keys[d])[u, 0, 0]
                             / (h * k * factor * share[u]) for u in range(hospitals))
                         for d in range(N_DRAWS)])
    got = np.array([first[d] for d in range(N_DRAWS)])
    np.testing.assert_allclose(got, expected, rtol=REL)
    wait = got - min(shadow.values())     # hospitals start within 1e-5 months of each other
    rate = h * k * factor
    what = f"first detection in a region of {hospitals} hospitals"
    exposure = float(sim.exposure_by_context(0).sum())
    assert exposure == pytest.approx(k * factor * (240.0 - min(shadow.values())), rel=1e-6)
    assert_mean(wait, 1.0 / rate, 1.0 / rate, what, cfg.seed)
    assert_ks(wait, stats.expon(scale=1.0 / rate).cdf, what, cfg.seed)


# ------------------------------------------------------------------------------ adoption
def _adoption_delays(steering: float) -> tuple[np.ndarray, float, int]:
    cfg = make_config(one_region_dict(
        time={"horizon_months": 400},
        regions={"units_per_region": N_DRAWS},
        adoption={"steering": steering},
        centre={"new_defects_mean": 0.0},
        strategies={"big_bang": {"pinned_releases": {"DRG": ["2020-01"]}}}))
    res, _ = run_one(cfg, record_events=True)
    assert event_times(res, "release") == [12.0]        # 2020-01 is 12 months after 2019-01
    adopt = {r[3]: r[0] for r in rows(res, "adopt")}
    assert sorted(adopt) == list(range(N_DRAWS))
    assert {r[6] for r in rows(res, "adopt")} == {2}
    return np.array([adopt[u] - 12.0 for u in range(N_DRAWS)]), cfg.adoption.mean_delay, cfg.seed


def test_adoption_delay_is_exponential_with_mean_set_by_steering():
    """Pinned release at month 12, 400 paying hospitals (seed 11): adoption delays ~ Exp with mean
    L_min + (1 - steering)(L_max - L_min) (mean within 4 SE, sd = mean; KS alpha 0.01) for
    steering 0.7, 0 and 1; and, the draws being common random numbers, the delays of two
    steerings are proportional to their means exactly (1e-9)."""
    lo, hi = 1.0, 12.0   # config defaults
    base = None
    for steering in (0.7, 0.0, 1.0):
        delays, mean, seed = _adoption_delays(steering)
        assert mean == pytest.approx(lo + (1.0 - steering) * (hi - lo), abs=1e-12)
        assert_mean(delays, mean, mean, f"adoption delay, steering {steering}", seed)
        assert_ks(delays, stats.expon(scale=mean).cdf, f"adoption delay, steering {steering}",
                  seed)
        if base is None:
            base = delays / mean
        else:
            np.testing.assert_allclose(delays / mean, base, rtol=REL)


# ------------------------------------------------------------------------------ reporting
def test_report_arrives_one_exponential_delay_after_the_detection():
    """400 plain defects in one region, report_prob 1, local_patch_prob 1 (so each defect is
    detected exactly once): report - detection = L_report x its pre-drawn Exp(1) delay exactly
    (1e-9), and ~ Exp(mean L_report) (seed 11; mean within 4 SE, sd = mean; KS alpha 0.01)."""
    delay_mean = 2.0
    cfg = make_config(one_region_dict(
        defects={"fixed_count": N_DRAWS, "detectability_median": 1.0},
        learning={"report_prob": 1.0, "local_patch_prob": 1.0, "report_delay_mean": delay_mean},
        centre={"new_defects_mean": 0.0}))
    res, sim = run_one(cfg, record_events=True)
    detect = rows(res, "detect")
    assert sorted(r[5] for r in detect) == list(range(N_DRAWS)), "one detection per defect"
    t_detect = {r[5]: r[0] for r in detect}
    t_report = {r[5]: r[0] for r in rows(res, "report")}
    assert sorted(t_report) == list(range(N_DRAWS)), "one report per defect"
    ts = sim.centre.tracks[0]
    luck = np.array([sim.world.luck(0, ts.keys[d])[0, 0, 2] for d in range(N_DRAWS)])
    lag = np.array([t_report[d] - t_detect[d] for d in range(N_DRAWS)])
    np.testing.assert_allclose(lag, delay_mean * luck, rtol=REL)
    np.testing.assert_allclose([ts.known_at[d] for d in range(N_DRAWS)],
                               [t_report[d] for d in range(N_DRAWS)], rtol=0, atol=0)
    assert_mean(lag, delay_mean, delay_mean, "report delay", cfg.seed)
    assert_ks(lag, stats.expon(scale=delay_mean).cdf, "report delay", cfg.seed)


def test_report_is_the_earliest_arrival_over_detections():
    """report_prob 1, no patching, a defect detected many times: it becomes known at the earliest
    of (detection time + L x its delay) over its detections before then (exact, 1e-9)."""
    cfg = make_config(one_region_dict(
        seed=3, defects={"fixed_count": 20, "detectability_median": 3.0},
        learning={"report_prob": 1.0, "report_delay_mean": 4.0},
        centre={"new_defects_mean": 0.0}))
    res, sim = run_one(cfg, record_events=True)
    ts = sim.centre.tracks[0]
    several = 0
    for d in range(ts.n):
        dets = [r[0] for r in rows(res, "detect") if r[5] == d]
        (report,) = [r[0] for r in rows(res, "report") if r[5] == d]
        before = [t for t in dets if t <= report]
        several += len(before) > 1
        luck = sim.world.luck(0, ts.keys[d])[0]
        arrivals = [t + 4.0 * luck[k, 2] for k, t in enumerate(before)]
        assert report == pytest.approx(min(arrivals), rel=REL)
    assert several > 0, "the case should have defects detected more than once before known"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_reports_no_releases_when_report_prob_is_zero(seed):
    """report_prob 0 and no suspension: defects are detected but never known, so the centre never
    releases (on-demand releases start only from known defects or suspensions)."""
    cfg = make_config(one_region_dict(
        seed=seed, regions={"units_per_region": 5},
        defects={"fixed_count": 5, "detectability_median": 0.5}))
    res, sim = run_one(cfg, record_events=True)
    assert len(event_times(res, "detect")) > 0
    assert event_times(res, "report") == [] and event_times(res, "release") == []
    assert res.summary["releases"] == 0.0 and res.summary["defects_fixed"] == 0.0
    assert all(t == math.inf for t in sim.centre.tracks[0].known_at)
    assert (res.version == 1).all()


# ------------------------------------------------------------------------------ recalibration
def _recal_config(**extra):
    base = one_region_dict(
        time={"horizon_months": 120},
        defects={"detectability_median": 2.0},
        learning={"report_prob": 1.0, "report_delay_mean": 0.5},
        centre={"new_defects_mean": 0.0, "min_release_spacing": 6.0})
    return make_config(merge(base, extra))


def _work(sim, release: int) -> float:
    c = sim.config.centre
    u, _ = sim.world.release_luck(0, release)
    return c.recalibration_mean_months / c.capacity \
        * stats.gamma.ppf(u, a=c.recalibration_shape) / c.recalibration_shape


@pytest.mark.parametrize("spacing", [6.0, 0.0, 30.0])
def test_release_follows_report_after_work_and_spacing_and_fixes_with_prob_one(spacing):
    """One defect, known at t_k; fix_prob 1: the release comes at max(t_k + work, 0 + spacing)
    with work = T_recal / K x its gamma draw (exact, 1e-9); it fixes the defect (fixed in version
    2, summary defects_fixed 1), nothing else follows, and harm stops growing at adoption."""
    cfg = _recal_config(centre={"fix_prob": 1.0, "min_release_spacing": spacing})
    res, sim = run_one(cfg, record_events=True)
    (t_known,) = event_times(res, "report")
    (t_release,) = event_times(res, "release")
    assert t_release == pytest.approx(max(t_known + _work(sim, 1), spacing), rel=REL)
    ts = sim.centre.tracks[0]
    assert ts.fixed[0] == 2 and ts.n == 1
    assert res.summary["defects_fixed"] == 1.0 and res.summary["defects_remaining"] == 0.0
    assert res.summary["releases"] == 1.0
    t = grid(cfg)
    assert (res.version[t < t_release, 0] == 1).all()
    assert (res.version[t >= t_release, 0] == 2).all()
    (t_adopt,) = event_times(res, "adopt", 0)
    after = t > t_adopt
    assert after.any()
    np.testing.assert_allclose(res.harm[after, 0], res.harm[after, 0][0], rtol=REL)


def test_a_work_period_that_fixes_nothing_cuts_no_release():
    """fix_prob 0: the known defect is never fixed, so no version is ever cut (model v2: the
    centre releases nothing that fixes nothing); it works on, period after period, each of
    work_i = T_recal / K x its own gamma draw: the periods started are 1 + the number that end
    by the horizon (t_k + work_1 + ... + work_i <= 120)."""
    cfg = _recal_config(centre={"fix_prob": 0.0, "min_release_spacing": 6.0})
    res, sim = run_one(cfg, record_events=True)
    (t_known,) = event_times(res, "report")
    assert event_times(res, "release") == [] and res.summary["releases"] == 0.0
    ts = sim.centre.tracks[0]
    assert ts.version == 1 and ts.fixed[0] == 2**31 - 1 and res.summary["defects_fixed"] == 0.0
    ends, t, i = 0, max(t_known + _work(sim, 1), 6.0), 1
    while t <= cfg.time.horizon_months:
        ends += 1
        i += 1
        t += _work(sim, i)
    assert ts.attempts == 1 + ends >= 5
    assert np.all(np.diff(res.harm[:, 0]) > 0.0), "an unfixed plain defect keeps harming"


@pytest.mark.parametrize("strategy", ["big_bang", "phased", "dual_track", "adaptive"])
@pytest.mark.parametrize("replicate", [0, 1, 2])
def test_every_on_demand_release_fixes_a_defect(strategy, replicate):
    """small_dict (seed 7), fix_prob 0.5: every version an on-demand release makes fixes at
    least one defect of its track (none is cut because regions are suspended)."""
    cfg = make_config(small_dict(centre={"fix_prob": 0.5}))
    res, sim = run_one(cfg, strategy, replicate=replicate)
    for ts in sim.centre.tracks:
        for version in range(2, ts.version + 1):
            assert version in ts.fixed, (ts.name, version)
    assert res.summary["releases"] >= 1 or strategy != "big_bang"


@pytest.mark.parametrize(("capacity", "shape"), [(4.0, 4.0), (3.0, 1.0)])
def test_recalibration_work_is_gamma_with_mean_T_over_K(capacity, shape):
    """fix_prob 0 and no minimum spacing: no version is ever cut, and the centre starts its
    next work period as each ends, so the work periods (announced as "working") are i.i.d.
    ~ Gamma(shape, mean T_recal / K_centre) (seed 11, 400 periods: mean within 4 SE with
    sd = mean / sqrt(shape); KS alpha 0.01)."""
    from rollout.data import load_provinces
    from rollout.model.simulation import COMPONENTS
    from rollout.model.world import build_world

    periods: list[tuple[float, float]] = []

    class Watch:
        def __init__(self, sim):
            pass

        def wire(self, sim):
            sim.signals.connect("working", lambda t, start, end: periods.append((start, end)))

    mean = 6.0 / capacity
    cfg = _recal_config(time={"horizon_months": 1200},
                        centre={"fix_prob": 0.0, "min_release_spacing": 0.0,
                                "capacity": capacity, "recalibration_shape": shape})
    world = build_world(cfg, load_provinces(cfg), cfg.seed, 0)
    res = Simulation(cfg, world, cfg.strategies["big_bang"],
                     components=COMPONENTS + (("watch", Watch),)).run(run_strategy)
    assert res.summary["releases"] == 0.0
    assert len(periods) > N_DRAWS, "1200 months hold about 1200 / mean work periods"
    assert all(b[0] == a[1] for a, b in zip(periods, periods[1:], strict=False))
    work = np.array([end - start for start, end in periods])[:N_DRAWS]
    assert_mean(work, mean, mean / math.sqrt(shape), "recalibration work", cfg.seed)
    assert_ks(work, stats.gamma(shape, scale=mean / shape).cdf, "recalibration work", cfg.seed)


def test_new_defects_per_release_follow_their_poisson_draw():
    """new_defects_mean 2, fix_prob 1, new defects found fast (detectability 2, reported within
    0.5 months on average), so each release's new defects call for the next: release j adds
    exactly Poisson-ppf(u_j, 2) defects, each introduced in the version it makes (exact)."""
    cfg = _recal_config(centre={"fix_prob": 1.0, "new_defects_mean": 2.0})
    res, sim = run_one(cfg, record_events=True)
    ts = sim.centre.tracks[0]
    n_releases = len(event_times(res, "release"))
    expected = [int(stats.poisson.ppf(sim.world.release_luck(0, j)[1], 2.0))
                for j in range(1, n_releases + 1)]
    assert n_releases >= 2 and sum(expected) > 0, "the case should add some defects"
    introduced = ts.introduced
    assert introduced.count(1) == 1
    for j, count in enumerate(expected, start=1):
        assert introduced.count(j + 1) == count
    assert ts.n == 1 + sum(expected)


@pytest.mark.parametrize("policy", ["pinned", "pinned_then_on_demand"])
def test_after_the_last_pinned_release_the_centre_releases_on_demand_if_told(policy):
    """One defect found and known at t_k > 1; one version pinned to 2019-02 (month 1, work from
    0: it fixes nothing). "pinned": nothing follows, the defect is never fixed. "pinned then on
    demand": work starts at t_k and the release comes at max(t_k + work_2, 1 + spacing), the
    work drawn as the second release's (exact, 1e-9); it fixes the defect."""
    cfg = _recal_config(defects={"detectability_median": 0.5},
                        centre={"fix_prob": 1.0},
                        strategies={"big_bang": {"pinned_releases": {"DRG": ["2019-02"]},
                                                 "release_policy": policy}})
    res, sim = run_one(cfg, record_events=True)
    (t_known,) = event_times(res, "report")
    releases = event_times(res, "release")
    assert t_known > 1.0 and releases[0] == 1.0
    ts = sim.centre.tracks[0]
    if policy == "pinned":
        assert releases == [1.0] and ts.fixed[0] == 2**31 - 1
    else:
        assert len(releases) == 2 and ts.fixed[0] == 3
        expected = max(t_known + _work(sim, 2), 1.0 + cfg.centre.min_release_spacing)
        assert releases[1] == pytest.approx(expected, rel=REL)


# ------------------------------------------------------------------------------ local patch
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_local_patch_stops_harm_in_the_detecting_region(seed):
    """local_patch_prob 1, report_prob 0, plain defect (tau 0), s = 0.25, paying from t_pay:
    harm(t) = s (min(t, t_detect) - t_pay) at every grid time (1e-9); nothing is ever known."""
    cfg = make_config(one_region_dict(
        seed=seed, defects={"detectability_median": 0.1},
        learning={"local_patch_prob": 1.0}))
    res, sim = run_one(cfg, record_events=True)
    (t_pay,) = event_times(res, "pay", 0)
    (t_detect,) = event_times(res, "detect", 0)
    assert event_times(res, "patch", 0) == [t_detect]
    t = grid(cfg)
    assert (t > t_detect).sum() >= 2, "the detection should leave later grid points to compare"
    s = cfg.defects.severity_median
    expected = s * np.maximum(0.0, np.minimum(t, t_detect) - t_pay)
    np.testing.assert_allclose(res.harm[:, 0], expected, rtol=REL, atol=1e-12)
    assert res.summary["harm_total"] == pytest.approx(s * (t_detect - t_pay), rel=REL)
    assert event_times(res, "report") == [] and res.summary["releases"] == 0.0
    assert res.defects_active[t > t_detect, 0].max() == 0
    assert res.defects_active[(t > t_pay) & (t < t_detect), 0].min() == 1


# ------------------------------------------------------------------------------ learning
@pytest.mark.parametrize(("seed", "how"), [(11, "release"), (21, "release"), (11, "patch"),
                                         (21, "patch")])
def test_learning_then_entrenchment_follow_their_closed_form(seed, how):
    """One gaming defect (tau_learn 9, tau_unlearn 12, s 0.25) in one region paying from t0,
    corrected at ta (how='release': fixed by a release adopted at ta; how='patch': patched
    locally at its first detection ta, nothing reported): cumulative harm is
    s((t-t0) - tau_l(1 - exp(-(t-t0)/tau_l))) up to ta and harm(ta) + s e_a tau_u
    (1 - exp(-(t-ta)/tau_u)) after it, with e_a = 1 - exp(-(ta-t0)/tau_l), at every grid time
    (relative 1e-9)."""
    if how == "release":
        learn = {"report_prob": 1.0}
        detectability = 1.0
    else:
        learn = {"report_prob": 0.0, "local_patch_prob": 1.0}
        detectability = 0.05
    cfg = make_config(one_region_dict(
        seed=seed, time={"horizon_months": 96},
        defects={"detectability_median": detectability, "kinds": GAMING_ONLY},
        learning=learn,
        centre={"fix_prob": 1.0, "new_defects_mean": 0.0}))
    res, sim = run_one(cfg, record_events=True)
    assert sim.centre.tracks[0].tau_learn[0] == 9.0 and sim.centre.tracks[0].tau_unlearn[0] == 12.0
    (t0,) = event_times(res, "pay", 0)
    if how == "release":
        (ta,) = event_times(res, "adopt", 0)
        assert sim.centre.tracks[0].fixed[0] == 2
    else:
        (ta,) = event_times(res, "patch", 0)
        assert event_times(res, "detect", 0)[0] == ta and event_times(res, "release") == []
    s, tl, tu = cfg.defects.severity_median, 9.0, 12.0

    def learning(t):
        x = np.maximum(0.0, t - t0)
        return s * (x - tl * -np.expm1(-x / tl))

    t = grid(cfg)
    assert (t < ta).sum() >= 3 and (t > ta).sum() >= 3
    e_a = -math.expm1(-(ta - t0) / tl)
    harm_a = learning(ta)
    expected = np.where(t <= ta, learning(t),
                        harm_a + s * e_a * tu * -np.expm1(-np.maximum(0.0, t - ta) / tu))
    np.testing.assert_allclose(res.harm[:, 0], expected, rtol=REL)
    # entrenchment: harm keeps growing after the fix, towards harm(ta) + s e_a tau_u
    assert res.harm[-1, 0] > harm_a
    assert res.summary["harm_total"] == pytest.approx(
        harm_a + s * e_a * tu * -math.expm1(-(cfg.time.horizon_months - ta) / tu), rel=REL)


# ------------------------------------------------------------------------------ suspension
def _suspension_config(severity: float, **extra):
    base = one_region_dict(
        time={"horizon_months": 120},
        defects={"severity_median": severity, "detectability_median": 0.01},
        suspension={"enabled": True, "sustain_months": 6.0},
        centre={"new_defects_mean": 0.0})
    return make_config(merge(base, extra))


def test_suspension_after_sustained_excess_lasts_until_a_fix():
    """s = 2 > b = 1, report_prob 0: suspended exactly 6 months after paying (1e-9). Nobody
    reports the defect, so no version fixes it and no release is cut for the suspension (model
    v2): the region stays suspended to the horizon, once. No benefit nor harm accrues while
    suspended."""
    cfg = _suspension_config(2.0)
    res, sim = run_one(cfg, record_events=True)
    (t_pay,) = event_times(res, "pay", 0)
    (suspended,) = event_times(res, "suspend", 0)
    assert suspended == pytest.approx(t_pay + 6.0, abs=1e-9)
    assert event_times(res, "release") == [] and event_times(res, "resume", 0) == []
    assert event_times(res, "report") == [] and res.summary["suspensions"] == 1.0
    t = grid(cfg)
    off = t > suspended
    assert off.sum() >= 2
    assert np.ptp(res.benefit[off, 0]) == 0.0 and np.ptp(res.harm[off, 0]) == 0.0
    assert res.benefit[off, 0][0] == pytest.approx(suspended - t_pay, rel=REL)
    assert (res.stage[off, 0] == STAGES.index("suspended")).all()
    assert (res.coverage[off, 0] == 0.0).all()


def test_a_suspended_region_resumes_when_it_adopts_the_fix_of_its_defect():
    """s = 2 > b = 1, the defect reported (report_prob 1, detectability 0.5) and fixed with
    probability 1: the region is suspended 6 months after paying, resumes exactly when it adopts
    the version that fixes the defect, and is never suspended again."""
    cfg = _suspension_config(2.0, defects={"detectability_median": 0.5},
                             learning={"report_prob": 1.0, "report_delay_mean": 8.0},
                             centre={"fix_prob": 1.0, "recalibration_mean_months": 6.0})
    res, sim = run_one(cfg, record_events=True)
    (t_pay,) = event_times(res, "pay", 0)
    (suspended,) = event_times(res, "suspend", 0)
    assert suspended == pytest.approx(t_pay + 6.0, abs=1e-9)
    (release,) = event_times(res, "release")
    assert release > suspended
    assert sim.centre.tracks[0].fixed[0] == 2
    adopted = [r[0] for r in rows(res, "adopt", 0) if r[6] == 2]
    assert event_times(res, "resume", 0) == adopted
    assert res.summary["suspensions"] == 1.0


def test_a_region_suspended_by_entrenched_gaming_resumes_when_it_has_decayed():
    """One gaming defect (tau_learn 9, tau_unlearn 12), severity 10 x the benefit rate, found,
    reported and fixed fast: the region adopts the fix at t_a before its harm has been above its
    benefit for 6 months, so it is suspended with no defect in force. Entrenched exploitation
    e(t) = (1 - exp(-(t_a - t_pay) / 9)) exp(-(t - t_a) / 12) decays throughout, and the region
    resumes exactly when 10 e(t) = 1 (1e-9), once."""
    cfg = _suspension_config(10.0, defects={"detectability_median": 2.0, "kinds": GAMING_ONLY},
                             learning={"report_prob": 1.0, "report_delay_mean": 0.5},
                             centre={"fix_prob": 1.0, "recalibration_mean_months": 2.0,
                                     "min_release_spacing": 0.0},
                             adoption={"steering": 1.0})
    res, sim = run_one(cfg, record_events=True)
    (t_pay,) = event_times(res, "pay", 0)
    (t_adopt,) = [r[0] for r in rows(res, "adopt", 0) if r[6] == 2]
    (suspended,) = event_times(res, "suspend", 0)
    assert t_adopt < suspended and sim.centre.tracks[0].fixed[0] == 2
    assert sim.suspension.driving[0] == frozenset()        # resumed: cleared
    e_adopt = 1.0 - math.exp(-(t_adopt - t_pay) / 9.0)
    expected = t_adopt + 12.0 * math.log(10.0 * e_adopt)
    assert expected > suspended
    assert event_times(res, "resume", 0) == [pytest.approx(expected, rel=REL)]
    assert res.summary["suspensions"] == 1.0


@pytest.mark.parametrize("strategy", ["big_bang", "phased", "dual_track"])
@pytest.mark.parametrize("replicate", [0, 1, 2])
def test_no_region_is_suspended_twice_under_the_same_defects(strategy, replicate):
    """small_dict (seed 7) with severe defects (severity median 1): the sets of defects in
    force at a unit's successive suspensions all differ (a unit resumes only when one of them
    leaves force, and a fixed or patched defect never returns). A unit suspended by entrenched
    gaming alone (none in force) resumes when that harm has decayed to its limit, and it only
    decays, so the sets of entrenched defects of such suspensions differ too. Suspensions
    happen."""
    from rollout.model.simulation import COMPONENTS

    seen: dict[int, list[frozenset]] = {}

    class Watch:
        def __init__(self, sim):
            pass

        def wire(self, sim):
            sus = sim.suspension
            sim.signals.connect("suspended", lambda u: seen.setdefault(u, []).append(
                (sus.driving[u], sus.harming[u])))

    cfg = make_config(small_dict(defects={"severity_median": 1.0}))
    from rollout.data import load_provinces
    from rollout.model.world import build_world

    world = build_world(cfg, load_provinces(cfg), cfg.seed, replicate)
    res = Simulation(cfg, world, cfg.strategies[strategy],
                     components=COMPONENTS + (("watch", Watch),)).run(run_strategy)
    assert sum(len(v) for v in seen.values()) == res.summary["suspensions"] > 0
    for u, causes in seen.items():
        in_force = [d for d, _ in causes if d]
        assert len(set(in_force)) == len(in_force), f"unit {u} suspended twice under {causes}"
        entrenched = [h for d, h in causes if not d]
        assert all(entrenched) and len(set(entrenched)) == len(entrenched), (u, causes)


@pytest.mark.parametrize(("severity", "tolerance", "suspended"), [
    (0.5, 0.0, False),
    (1.0, 0.0, False),    # equal rates: harm does not exceed benefit
    (1.4, 0.5, False),    # within the tolerance
    (1.6, 0.5, True),
])
def test_suspension_needs_harm_above_benefit_times_one_plus_tolerance(severity, tolerance,
                                                                      suspended):
    cfg = _suspension_config(severity, suspension={"tolerance": tolerance})
    res, _ = run_one(cfg, record_events=True)
    (t_pay,) = event_times(res, "pay", 0)
    got = event_times(res, "suspend", 0)
    assert bool(got) == suspended
    assert res.summary["suspensions"] == len(got)
    if suspended:
        assert got[0] == pytest.approx(t_pay + 6.0, abs=1e-9)


def test_suspension_of_a_learning_defect_waits_until_harm_exceeds_benefit():
    """Gaming defect with s = 2, tau_learn 9: the harm rate 2(1 - exp(-(t-t0)/9)) crosses the
    benefit rate 1 at t0 + 9 ln 2, so the suspension comes at t0 + 9 ln 2 + 6 (1e-9)."""
    cfg = _suspension_config(2.0, defects={"kinds": GAMING_ONLY})
    res, _ = run_one(cfg, record_events=True)
    (t_pay,) = event_times(res, "pay", 0)
    assert event_times(res, "suspend", 0)[0] == pytest.approx(t_pay + 9.0 * math.log(2) + 6.0,
                                                              abs=1e-9)


def _ready_time(start: float, work: float, suspensions: np.ndarray, cost: float) -> float:
    """T with integral of dt / (1 + cost x suspensions before t) from start to T = work."""
    t, cred = start, 1.0 + cost * int((suspensions <= start).sum())
    for s in np.sort(suspensions[suspensions > start]):
        if t + work * cred <= s:
            break
        work -= (s - t) / cred
        t, cred = s, cred + cost
    return t + work * cred


@pytest.mark.parametrize("strategy", ["big_bang", "phased"])
@pytest.mark.parametrize("c", [0.5, 0.0])
def test_suspensions_slow_preparation_in_their_province_from_that_moment(strategy, c):
    """Hebei (11 regions, capacities 0.35-1 with noise), a severe plain defect (s 2), so regions
    are suspended while others still prepare. Each region's preparation is work
    W = T / k^g x its gamma draw done at rate 1 / (1 + c x suspensions in Hebei so far): it is
    ready at the T where the integral of that rate from its start is W, exactly (1e-9), for
    big bang (every region started at 0: the cost reaches regions already preparing) and for
    phased (later waves start after suspensions). With c = 0, preparation is W: suspensions
    change nothing."""
    cfg = make_config(merge(one_region_dict(
        time={"horizon_months": 120},
        regions={"provinces": ["Hebei"], "capacity_low": 0.35, "capacity_high": 1.0,
                 "capacity_noise": 0.15},
        preparation={"mean_months": 6.0, "shape": 1.0},
        defects={"severity_median": 2.0},
        suspension={"enabled": True, "credibility_cost": c},
        centre={"new_defects_mean": 0.0}), {
        "strategies": {"phased": {"pilots": [{"track": "DRG", "count": 2,
                                              "max_per_province": 2}]}},
        "analysis": {"baseline": strategy}}))
    res, sim = run_one(cfg, strategy, record_events=True)
    suspensions = np.array(event_times(res, "suspend"))
    start = {r[3]: r[0] for r in rows(res, "start")}
    ready = {r[3]: r[0] for r in rows(res, "ready")}
    assert len(start) == len(ready) == sim.n_units == 11
    slowed = 0
    for u in range(sim.n_units):
        work = 6.0 / sim.units.capacity[u] * float(sim.world.prep_factor[u])
        expected = _ready_time(start[u], work, suspensions, c)
        assert ready[u] == pytest.approx(expected, rel=REL), f"unit {u}"
        slowed += expected > start[u] + work + 1e-9
    assert len(suspensions) >= 2
    assert (slowed > 0) == (c > 0), "suspensions should come while regions prepare"
    assert sim.suspension.credibility[0] == pytest.approx(1.0 + c * len(suspensions), rel=REL)


# ------------------------------------------------------------------------------ evaluation
def test_evaluation_multiplies_detection_in_the_evaluated_provinces():
    """small_dict phased (seed 7): probed every 0.25 months, every active unit's detection
    multiplier is capacity x state factor (f_shadow 0.5 in shadow or suspended, 1 paying) x
    (f_eval = 3 while its province is in evaluation, else 1), to 1e-12, and each of its pairs
    detects at h_d x that multiplier or not at all; inactive units have 0. The evaluation lasts
    exactly evaluation_months."""
    cfg = make_config(small_dict())
    f_state = {SHADOW: cfg.operation.shadow_detection_factor, PAYING: 1.0,
               UNIT_SUSPENDED: cfg.operation.shadow_detection_factor}
    from rollout.data import load_provinces
    from rollout.model.world import build_world

    world = build_world(cfg, load_provinces(cfg), cfg.seed, 0)
    sim = Simulation(cfg, world, cfg.strategies["phased"], record_events=True)
    f_eval = cfg.learning.evaluation_detection_factor
    seen = {"eval": 0, "other": 0}
    bad: list[tuple] = []

    def probe(sim):
        while True:
            for u in range(sim.n_units):
                st = sim.units.state[u]
                p = sim.units.province[u]
                if st >= SHADOW:
                    stage = f_eval if sim.phase(p) == EVALUATION else 1.0
                    expected = sim.units.capacity[u] * f_state[st] * stage
                    key = "eval" if sim.phase(p) == EVALUATION else "other"
                    seen[key] += st == PAYING
                else:
                    expected = 0.0
                if abs(sim.exposure.mult[u] - expected) > 1e-12 * max(1.0, expected):
                    bad.append((sim.env.now, u, sim.exposure.mult[u], expected))
                for pr in sim.exposure.pairs[u]:
                    if pr.rate and abs(pr.rate - pr.h * expected) > 1e-12 * pr.rate:
                        bad.append((sim.env.now, u, pr.d, pr.rate, pr.h * expected))
            yield sim.env.timeout(0.25)

    def controller(sim):
        sim.env.process(probe(sim))
        yield from run_strategy(sim)

    res = sim.run(controller)
    assert not bad, bad[:5]
    assert seen["eval"] > 0 and seen["other"] > 0
    phase = rows(res, "phase")
    starts = [r[0] for r in phase if r[8] == EVALUATION]
    ends = [r[0] for r in phase if r[8] in (RECALIBRATION, SCALE_UP) and r[0] > starts[0]]
    assert starts and min(ends) - starts[0] == pytest.approx(cfg.strategies["phased"]
                                                             .evaluation_months, abs=1e-9)


# ------------------------------------------------------------------------------ stages
def _order_ok(codes) -> bool:
    """Stage codes, suspended removed, never go back (waiting < pilot < ... < complete)."""
    kept = [c for c in codes if c != STAGES.index("suspended")]
    return all(a <= b for a, b in zip(kept, kept[1:], strict=False))


@pytest.mark.parametrize("replicate", [0, 1])
def test_phased_province_stages_run_in_order(replicate):
    """small_dict phased, 150 months: pilot provinces' phases are set pilot -> evaluation ->
    recalibration -> scale_up (event log), the others' only scale_up; on the grid no province's
    stage goes back except to suspended and back; a province is complete exactly when all its
    regions pay; codes are those of STAGES."""
    cfg = make_config(small_dict(time={"horizon_months": 150}))
    res, sim = run_one(cfg, "phased", replicate=replicate, record_events=True)
    assert STAGES == ("waiting", "pilot", "evaluation", "recalibration", "scale_up", "complete",
                      "suspended")
    assert res.stage.min() >= 0 and res.stage.max() < len(STAGES)
    pilot_provs = {sim.units.province[u] for u in range(sim.n_units) if sim.units.is_pilot[u]}
    assert 0 < len(pilot_provs) < sim.n_provinces
    phases = rows(res, "phase")
    for p in range(sim.n_provinces):
        mine = [r for r in phases if r[2] == p]
        times = [r[0] for r in mine]
        assert times == sorted(times)
        if p in pilot_provs:
            assert [r[8] for r in mine] == [PILOT, EVALUATION, RECALIBRATION, SCALE_UP]
            assert times[2] - times[1] == pytest.approx(
                cfg.strategies["phased"].evaluation_months, abs=1e-9)
        else:
            assert [r[8] for r in mine] == [SCALE_UP]
            assert res.stage[0, p] == STAGES.index("waiting")
        codes = res.stage[:, p].tolist()
        assert _order_ok(codes), (p, codes)
        assert codes[-1] >= SCALE_UP
    complete = res.stage == STAGES.index("complete")
    assert complete.any()
    np.testing.assert_array_equal(complete, (res.coverage >= 1.0 - 1e-12)
                                  & (res.stage >= SCALE_UP) & (res.stage != SUSPENDED_STAGE))


def test_big_bang_is_scale_up_from_the_first_grid_point():
    cfg = make_config(small_dict())
    res, _ = run_one(cfg, "big_bang")
    assert (res.stage[0] == SCALE_UP).all()      # nobody is ready after one month
    assert (res.stage >= SCALE_UP).all()
    assert all(_order_ok(res.stage[:, p].tolist()) for p in range(res.stage.shape[1]))
    complete = res.stage == STAGES.index("complete")
    np.testing.assert_array_equal(complete, (res.coverage >= 1.0 - 1e-12)
                                  & (res.stage != SUSPENDED_STAGE))


# ------------------------------------------------------------------------------ historical
def test_historical_preset_reproduces_its_calendar():
    """31 provinces, DRG + DIP, horizon 96: DRG versions step at 17, 28, 66 (2020-06, 2021-05,
    2024-07), DIP at 22, 66, and after 66 only on demand, each such version fixing a defect;
    DRG pilots start at 4 (2019-05, when they were named) and shadow from 26 (2021-03) on;
    DIP pilots start at 22 (2020-11); the other regions start preparing exactly wave_lead_months
    before 36, 48, 60 (2022/23/24-01)."""
    cfg = make_config({"replicates": 1, "tracks": ["DRG", "DIP"],
                       "time": {"horizon_months": 96},
                       "strategies": {"historical": {}}, "analysis": {"baseline": "historical"}})
    res, sim = run_one(cfg, "historical", record_events=True)
    t = grid(cfg)
    for track, steps in ((0, [17.0, 28.0, 66.0]), (1, [22.0, 66.0])):
        v = res.version[:, track]
        assert v[0] == 1
        stepped = t[1:][np.diff(v) != 0].tolist()
        assert [x for x in stepped if x <= 66.0] == steps
        assert np.all(np.diff(v) >= 0) and v[-1] >= 1 + len(steps)
        ts = sim.centre.tracks[track]
        for version in range(len(steps) + 2, ts.version + 1):     # on demand, after 66
            assert ts.release_times[version - 1] > 66.0 and version in ts.fixed
    drg, dip = sim.config.tracks.index("DRG"), sim.config.tracks.index("DIP")
    assert [x for x in sorted(event_times(res, "release")) if x <= 66.0] \
        == [17.0, 22.0, 28.0, 66.0, 66.0]
    start = {r[3]: (r[0], r[4]) for r in rows(res, "start")}
    units = sim.units
    drg_pilots = [u for u in range(units.n) if units.is_pilot[u] and units.track[u] == drg]
    dip_pilots = [u for u in range(units.n) if units.is_pilot[u] and units.track[u] == dip]
    assert len(drg_pilots) == 30 and len(dip_pilots) == 71
    assert {start[u][0] for u in drg_pilots} == {4.0}     # named 2019-05 (issue 23)
    assert {start[u][0] for u in dip_pilots} == {22.0}
    shadow = {r[3]: r[0] for r in rows(res, "shadow")}
    assert all(shadow[u] >= 26.0 for u in drg_pilots if u in shadow)
    assert sum(u in shadow for u in drg_pilots) >= 25
    others = [u for u in range(sim.n_units) if not sim.units.is_pilot[u]]
    assert len(others) == sim.n_units - 101 and all(u in start for u in others)
    lead = cfg.strategies["historical"].wave_lead_months
    assert lead > 0.0
    assert {start[u][0] for u in others} == {36.0 - lead, 48.0 - lead, 60.0 - lead}


@pytest.mark.parametrize("scale", [0.0, 0.5])
def test_wave_date_scale_draws_later_waves_towards_the_first(scale):
    """Waves planned at 36, 48, 60 start at 36 + scale x (date - 36) - lead (exact): scale 0
    starts every wave with the first, 0.5 halves the gaps."""
    cfg = make_config({"replicates": 1, "tracks": ["DRG", "DIP"],
                       "time": {"horizon_months": 96},
                       "strategies": {"historical": {"wave_date_scale": scale,
                                                     "wave_lead_months": 4.0}},
                       "analysis": {"baseline": "historical"}})
    res, sim = run_one(cfg, "historical", record_events=True)
    start = {r[3]: r[0] for r in rows(res, "start")}
    others = {start[u] for u in range(sim.n_units) if not sim.units.is_pilot[u]}
    assert others == {36.0 + scale * gap - 4.0 for gap in (0.0, 12.0, 24.0)}


# ------------------------------------------------------------------------------ centre: what a
# release fixes
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_release_fixes_exactly_the_defects_known_when_its_work_started(seed):
    """fix_prob 1, 12 defects found one after another: defect d is fixed in the first version
    v >= 2 whose work began at or after d became known (exact); a defect known during the work
    waits for the next release. (Run with the event log, see test_skipping_terminates_...)"""
    cfg = make_config(one_region_dict(
        seed=seed, time={"horizon_months": 120},
        defects={"fixed_count": 12, "detectability_median": 0.1},
        learning={"report_prob": 1.0, "report_delay_mean": 2.0},
        centre={"fix_prob": 1.0, "new_defects_mean": 0.0, "min_release_spacing": 3.0}))
    res, sim = run_one(cfg, record_events=True)
    ts = sim.centre.tracks[0]
    assert len(ts.release_times) >= 3
    waited = 0
    for d in range(ts.n):
        later = [v for v, start in enumerate(ts.work_starts, start=1)
                 if v >= 2 and start >= ts.known_at[d]]
        assert ts.fixed[d] == (later[0] if later else 2**31 - 1), d
        waited += bool(later) and later[0] > 2 and ts.work_starts[later[0] - 2] > 0.0 \
            and ts.known_at[d] > ts.work_starts[later[0] - 2]
    assert waited > 0, "some defect should have become known while work was under way"
    # work on the next version starts when the centre is free: at a report or at a release
    reports = set(event_times(res, "report"))
    releases = set(event_times(res, "release"))
    assert all(s in reports | releases for s in ts.work_starts[1:])


def test_pinned_releases_fix_what_was_known_one_recalibration_time_before():
    """Releases pinned to 2020-01 and 2021-01 (months 12 and 24), T_recal 6 / K 1: their work
    starts at 6 and 18, so (fix_prob 1) a defect known by 6 is fixed in version 2, one known in
    (6, 18] in version 3, later ones never; the centre makes no other release."""
    cfg = make_config(one_region_dict(
        seed=4, time={"horizon_months": 60},
        defects={"fixed_count": 12, "detectability_median": 0.05},
        learning={"report_prob": 1.0, "report_delay_mean": 2.0},
        centre={"fix_prob": 1.0, "new_defects_mean": 0.0},
        strategies={"big_bang": {"pinned_releases": {"DRG": ["2020-01", "2021-01"]}}}))
    res, sim = run_one(cfg, record_events=True)
    assert event_times(res, "release") == [12.0, 24.0]
    ts = sim.centre.tracks[0]
    assert ts.work_starts == [0.0, 6.0, 18.0]
    groups = {2: 0, 3: 0, "never": 0}
    for d in range(ts.n):
        k = ts.known_at[d]
        expected = 2 if k <= 6.0 else 3 if k <= 18.0 else 2**31 - 1
        assert ts.fixed[d] == expected, (d, k, ts.fixed[d])
        groups[expected if expected < 2**31 - 1 else "never"] += 1
    assert all(n > 0 for n in groups.values()), groups


# ------------------------------------------------------------------------------ detection skipping
@pytest.mark.parametrize("report_prob, patch_prob", [(0.0, 0.0), (1.0, 0.0), (1.0, 1e-12)])
def test_skipping_terminates_when_no_detection_can_matter(report_prob, patch_prob):
    """Without the event log, irrelevant detections are skipped; with local_patch_prob 0 and
    either report_prob 0 or the defect known, none is ever relevant again, and with a tiny patch
    probability the next relevant one lies far beyond the horizon. The run must still end
    (guarded by a 3 s alarm; it takes ~0.01 s) and agree with the run that logs events."""
    import signal

    cfg = make_config(one_region_dict(
        defects={"detectability_median": 1.0},
        learning={"report_prob": report_prob, "local_patch_prob": patch_prob},
        centre={"new_defects_mean": 0.0}))
    logged, _ = run_one(cfg, record_events=True)
    assert logged.summary["defects_detected"] == 1.0
    assert len(event_times(logged, "detect")) > 1, "the defect is detected again and again"

    def too_long(signum, frame):
        raise TimeoutError("run without the event log did not end within 3 s")

    old = signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, 3.0)
    try:
        plain, _ = run_one(cfg, record_events=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, old)
    np.testing.assert_array_equal(plain.harm, logged.harm)
    assert plain.summary == logged.summary


# ------------------------------------------------------------------------------ suspension clock
def test_suspension_clock_is_not_reset_by_changes_that_keep_harm_above_benefit():
    """Two plain kinds: severe (s = 2, hardly detectable) and mild (s = 0.025, h = 4, patched
    locally on detection). The mild patches change the unit's rates within the first months, but
    the harm rate stays above the benefit rate, so the suspension still comes 6 months after
    paying began (1e-9)."""
    kinds = {"grouping_error": {"share": 1.0, "severity_factor": 8.0,
                                "detectability_factor": 0.001},
             "weight_miscalibration": {"share": 1.0, "severity_factor": 0.1,
                                       "detectability_factor": 100.0},
             "upcoding": {"share": 0.0}, "cost_shifting": {"share": 0.0},
             "patient_selection": {"share": 0.0}, "split_admissions": {"share": 0.0}}
    cfg = make_config(one_region_dict(
        defects={"fixed_count": 6, "kinds": kinds, "severity_median": 0.25},
        learning={"local_patch_prob": 1.0},
        suspension={"enabled": True}, centre={"new_defects_mean": 0.0}))
    res, sim = run_one(cfg, record_events=True)
    s = sim.centre.tracks[0].s
    assert any(x > 1.0 for x in s) and any(x < 0.1 for x in s)
    (t_pay,) = event_times(res, "pay", 0)
    patches = [t for t in event_times(res, "patch", 0) if t < t_pay + 6.0]
    assert patches, "a mild defect should be patched before the suspension"
    assert event_times(res, "suspend", 0)[0] == pytest.approx(t_pay + 6.0, abs=1e-9)


# ------------------------------------------------------------------------------ phased gates
@pytest.mark.parametrize("replicate", [0, 1, 2, 3])
def test_pilot_quorum_and_recalibration_gate(replicate):
    """small_dict phased with 7 pilots (quorum ceil(0.8 x 7) = 6): evaluation starts exactly
    pilot_paying_months after the 6th pilot first pays; it lasts evaluation_months; scale-up
    starts when 6 pilots run the first version whose work began after every defect still known
    and uncorrected at the end of evaluation became known (or at once if there is none). No
    preparation lead, so each wave's regions start when the wave does."""
    cfg = make_config(small_dict(
        time={"horizon_months": 150},
        strategies={"phased": {"pilots": [{"track": "DRG", "count": 7,
                                           "max_per_province": 2}],
                               "wave_lead_months": 0.0}}))
    res, sim = run_one(cfg, "phased", replicate=replicate, record_events=True)
    s = cfg.strategies["phased"]
    pilots = [u for u in range(sim.n_units) if sim.units.is_pilot[u]]
    assert len(pilots) == 7
    q = math.ceil(0.8 * 7)
    first_pay = sorted(min(event_times(res, "pay", u)) for u in pilots)
    phase = rows(res, "phase")
    t_eval = min(r[0] for r in phase if r[8] == EVALUATION)
    t_recal = min(r[0] for r in phase if r[8] == RECALIBRATION)
    t_scale = min(r[0] for r in phase if r[8] == SCALE_UP)
    assert t_eval == pytest.approx(first_pay[q - 1] + s.pilot_paying_months, abs=1e-9)
    assert t_recal - t_eval == pytest.approx(s.evaluation_months, abs=1e-9)
    ts = sim.centre.tracks[0]
    waiting = [d for d in range(ts.n) if ts.known_at[d] <= t_recal
               and (ts.fixed[d] == 2**31 - 1 or ts.release_times[ts.fixed[d] - 1] > t_recal)]
    if waiting:
        required = max(ts.known_at[d] for d in waiting)
        v_ok = min(v for v, start in enumerate(ts.work_starts, start=1)
                   if v > 1 and start >= required)
        reach = sorted(min([r[0] for r in rows(res, "adopt", u) if r[6] >= v_ok] or [math.inf])
                       for u in pilots)
        expected = max(t_recal, reach[q - 1])
    else:
        expected = t_recal
    assert t_scale == pytest.approx(expected, abs=1e-9)
    starts = sorted({t for u in range(sim.n_units) if not sim.units.is_pilot[u]
                     for t in event_times(res, "start", u)})
    assert starts[0] == pytest.approx(t_scale, abs=1e-9)
    assert np.diff(starts) == pytest.approx([s.wave_interval_months] * (len(starts) - 1))


def run_recording_the_gate(cfg, strategy: str, replicate: int = 0):
    """Run a strategy, recording (time, value) of every evidence-gate evaluation."""
    calls: list[tuple[float, float]] = []
    original = Simulation.expected_undetected

    def recording(sim, track):
        value = original(sim, track)
        calls.append((sim.env.now, value))
        return value

    Simulation.expected_undetected = recording
    try:
        res, sim = run_one(cfg, strategy, replicate=replicate, record_events=True)
    finally:
        Simulation.expected_undetected = original
    return res, sim, calls


@pytest.mark.parametrize("replicate", [0, 1, 2])
def test_adaptive_waves_wait_for_the_evidence(replicate):
    """small_dict adaptive (threshold 1, review 1 month; detectability median 0.4, and the
    centre believing it, so the gate opens): every wave starts at a review where the expected
    number of undetected defects is at or below the threshold; every review above it is
    followed by another one review period later; the gate held at least once. No preparation
    lead, so each wave's regions start when the wave does."""
    cfg = make_config(small_dict(time={"horizon_months": 150},
                                 defects={"detectability_median": 0.4},
                                 centre={"belief": {"detectability_median": 0.4}},
                                 strategies={"adaptive": {"wave_lead_months": 0.0}}))
    s = cfg.strategies["adaptive"]
    res, sim, calls = run_recording_the_gate(cfg, "adaptive", replicate)
    starts = sorted({t for u in range(sim.n_units) if not sim.units.is_pilot[u]
                     for t in event_times(res, "start", u)})
    assert len(starts) == len(s.waves)
    value_at = dict(calls)
    for t in starts:
        assert t in value_at and value_at[t] <= s.evidence_threshold
    times = [t for t, _ in calls]
    for (t, v), nxt in zip(calls, times[1:] + [math.inf], strict=True):
        if v > s.evidence_threshold:
            assert nxt == pytest.approx(t + s.evidence_review_months, abs=1e-9)
    assert any(v > s.evidence_threshold for _, v in calls), "the gate should have held"
    assert np.all(np.diff(starts) >= s.wave_interval_months - 1e-9)


# ------------------------------------------------------------------------------ evidence
def test_escape_probability_closed_forms():
    """The centre's belief without lognormal spread (sigma 0): P_esc = u exp(-h p sum X) +
    (1 - u) prod_c (1 - m + m exp(-h p X_c)), to 1e-12; the belief, not the run's defects,
    sets h (the run's detectability is 100 times larger here)."""
    from rollout.model.evidence import escape_probability

    x = np.array([0.0, 3.0, 10.0, 0.5, 25.0, 1.0])
    h, p = 0.04, 0.6
    for u, m in ((1.0, 0.5), (0.0, 0.5), (0.3, 0.5), (0.0, 1.0), (0.2, 0.0)):
        cfg = make_config(one_region_dict(
            defects={"universal_prob": u, "context_prob": m, "detectability_median": 100 * h},
            centre={"belief": {"detectability_median": h, "detectability_sigma": 0.0}},
            learning={"report_prob": p}))
        expected = u * math.exp(-h * p * x.sum()) \
            + (1 - u) * np.prod(1 - m + m * np.exp(-h * p * x))
        assert escape_probability(cfg, x) == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert escape_probability(cfg, np.zeros(6)) == pytest.approx(1.0, abs=1e-12)


def test_expected_undetected_follows_the_belief_and_the_exposure_integral():
    """One region (capacity k 0.8), 4 months of shadow (factor 0.5) then paying; a release
    pinned at month 12. The exposure is X(t) = k (0.5 min(t, t_pay) - t_sh) + k (t - t_pay)+
    (1e-9). The centre believes in mu = 5 initial defects (gamma shape 2) and nu = 0.5 per
    release, all universal, with detectability h (no spread): a cohort escapes with
    P = exp(-h p Z), Z = X - Y the exposure whose reports (mean delay d = 2) have arrived,
    dY/dt = x(t) - Y / d; given K reported, it holds P (2 + K) / (2 / mu + 1 - P) undetected.
    The gate's value is the sum over the two cohorts, exactly (1e-9)."""
    k, h, p, d, mu, nu = 0.8, 0.05, 0.6, 2.0, 5.0, 0.5
    cfg = make_config(one_region_dict(
        time={"horizon_months": 30},
        regions={"capacity_low": k, "capacity_high": k},
        defects={"fixed_count": 3, "detectability_median": 4 * h},
        learning={"report_prob": p, "report_delay_mean": d},
        centre={"new_defects_mean": 0.0,
                "belief": {"defect_count_mean": mu, "defect_count_shape": 2.0,
                           "detectability_median": h, "detectability_sigma": 0.0,
                           "new_defects_mean": nu}},
        strategies={"big_bang": {"preset": "big_bang", "wave_shadow_months": 4.0,
                                 "pinned_releases": {"DRG": ["2020-01"]}}}))
    from rollout.data import load_provinces
    from rollout.model.world import build_world

    world = build_world(cfg, load_provinces(cfg), cfg.seed, 0)
    sim = Simulation(cfg, world, cfg.strategies["big_bang"], record_events=True)
    seen: list[tuple[float, float, float]] = []

    def probe(sim):
        while True:
            yield sim.env.timeout(2.5)
            seen.append((sim.env.now, float(sim.exposure_by_context(0).sum()),
                         sim.expected_undetected(0)))

    def controller(sim):
        sim.env.process(probe(sim))
        yield from run_strategy(sim)

    res = sim.run(controller)
    (t_sh,) = event_times(res, "shadow", 0)
    (t_pay,) = event_times(res, "pay", 0)
    assert t_pay - t_sh == pytest.approx(4.0, abs=1e-9)
    known = sim.centre.tracks[0].known_at

    def exposure(t):
        return k * (0.5 * (min(t, t_pay) - t_sh) + max(0.0, t - t_pay))

    def recent(t):      # Y(t) for the rate k/2 on [t_sh, t_pay), k after
        if t <= t_pay:
            return 0.5 * k * d * (1 - math.exp(-(t - t_sh) / d))
        return 0.5 * k * d * (math.exp(-(t - t_pay) / d) - math.exp(-(t - t_sh) / d)) \
            + k * d * (1 - math.exp(-(t - t_pay) / d))

    def cohort(mean, z, reported):
        escape = math.exp(-h * p * z)
        return escape * (2.0 + reported) / (2.0 / mean + 1.0 - escape)

    assert len(seen) >= 10 and sum(x < math.inf for x in known) >= 1
    for t, x, e in seen:
        assert x == pytest.approx(exposure(t), rel=REL, abs=1e-12)
        k0 = sum(1 for x in known if x <= t)
        want = cohort(mu, exposure(t) - recent(t), k0)
        if t >= 12.0:
            z = exposure(t) - exposure(12.0) - (recent(t) - recent(12.0)
                                                * math.exp(-(t - 12.0) / d))
            want += cohort(nu, z, 0)
        assert e == pytest.approx(want, rel=REL), t


def test_the_evidence_gate_holds_waves_when_evidence_is_thin_and_not_when_it_is_ample():
    """small_dict adaptive (seed 7, replicate 0), threshold 1, the centre believing in 12
    defects of detectability 0.4: when scale-up is first due right after the pilots start
    paying (no paying time, no evaluation) the gate holds the first wave for at least 3
    reviews; after 36 months of paying pilots and 6 of evaluation it lets it go at once. Every
    wave starts only when the expected number undetected is at or below the threshold (no
    preparation lead, so each wave's regions start when the wave does)."""
    def first_wave_wait(paying_months, evaluation_months):
        cfg = make_config(small_dict(
            time={"horizon_months": 120},
            centre={"belief": {"detectability_median": 0.4}},
            strategies={"adaptive": {"pilot_paying_months": paying_months,
                                     "evaluation_months": evaluation_months,
                                     "recalibration_gate": False, "wave_lead_months": 0.0}}))
        res, sim, calls = run_recording_the_gate(cfg, "adaptive")
        starts = sorted({t for u in range(sim.n_units) if not sim.units.is_pilot[u]
                         for t in event_times(res, "start", u)})
        assert starts, "the gate should open before the horizon"
        assert all(v <= 1.0 for t, v in calls if t in starts)
        return starts[0] - calls[0][0], calls

    thin, calls = first_wave_wait(0.0, 0.0)
    assert calls[0][1] > 1.0 and thin >= 3.0, (thin, calls[:5])
    ample, calls = first_wave_wait(36.0, 6.0)
    assert calls[0][1] <= 1.0 and ample == 0.0, (ample, calls[:3])


# ------------------------------------------------------------------------------ dual track
def test_dual_track_provinces_choose_the_track_with_fewer_known_open_defects():
    """small_dict dual_track, replicates 0-5: when the first wave starts preparing (with the
    preset's lead, before scale-up) each province puts all its other regions on one track; when
    the tracks' numbers of known, uncorrected defects at that moment differ
    (reconstructed from known_at, fixed and release times), every province picks the track with
    fewer (the first key of the evidence rule)."""
    differed = 0
    for replicate in range(6):
        cfg = make_config(small_dict(time={"horizon_months": 150}))
        res, sim = run_one(cfg, "dual_track", replicate=replicate, record_events=True)
        t_choice = min(r[0] for r in rows(res, "start") if not sim.units.is_pilot[r[3]])
        open_known = []
        for ts in sim.centre.tracks:
            open_known.append(sum(
                1 for d in range(ts.n) if ts.known_at[d] <= t_choice
                and (ts.fixed[d] == 2**31 - 1 or ts.release_times[ts.fixed[d] - 1] > t_choice)))
        chosen: dict[int, set[int]] = {}
        for u in range(sim.n_units):
            if not sim.units.is_pilot[u]:
                assert sim.units.track[u] >= 0, "every region has started by month 150"
                chosen.setdefault(sim.units.province[u], set()).add(sim.units.track[u])
        assert all(len(tracks) == 1 for tracks in chosen.values()), chosen
        if open_known[0] != open_known[1]:
            differed += 1
            best = int(np.argmin(open_known))
            assert all(tracks == {best} for tracks in chosen.values()), (open_known, chosen)
    assert differed > 0


# ------------------------------------------------------------------------------ preparation lead
def _pay_times_closed_form(sim, cfg, name: str, start: dict[int, float]) -> dict[int, float]:
    """Zero defects, no suspension: each unit's first payment from the strategy's primitives.

    Pilots start at 0 and pay after W_u + pilot shadow (W_u = T / k^g x its gamma draw). The
    pilot phase ends at T_q + pilot paying months (T_q: the quorum-th pilot payment); the first
    wave's date is that plus the evaluation, D_0, and wave i's D_i = D_(i-1) + interval (no gate
    binds). Wave i's regions start preparing at S_0 = max(T_q + paying, D_0 - L) and
    S_i = max(D_(i-1), D_i - L), and pay at max(S_i + W_u, D_i) + wave shadow."""
    s = cfg.strategies[name]
    units = sim.units
    work = {u: cfg.preparation.mean_months / units.capacity[u] ** cfg.preparation.capacity_exponent
            * float(sim.world.prep_factor[u]) for u in range(units.n)}
    pilots = [u for u in range(units.n) if units.is_pilot[u]]
    pays = {u: work[u] + s.pilot_shadow_months for u in pilots}
    quorum = math.ceil(s.pilot_quorum * len(pilots) - 1e-9)
    t_q = sorted(pays.values())[quorum - 1]
    end_pilot = t_q + s.pilot_paying_months
    dates = [end_pilot + s.evaluation_months]
    for _ in s.waves[1:]:
        dates.append(dates[-1] + s.wave_interval_months)
    starts = [max(end_pilot, dates[0] - s.wave_lead_months)]
    starts += [max(dates[i - 1], dates[i] - s.wave_lead_months) for i in range(1, len(dates))]
    for u in range(units.n):
        if units.is_pilot[u]:
            continue
        (i,) = [i for i, s_i in enumerate(starts) if abs(start[u] - s_i) < 1e-9]
        pays[u] = max(starts[i] + work[u], dates[i]) + s.wave_shadow_months
    return pays


def _coverage_time(pays: dict[int, float], weight: np.ndarray, threshold: float) -> float:
    order = sorted(pays, key=pays.get)
    total = np.cumsum([weight[u] for u in order])
    return pays[order[int(np.searchsorted(total, threshold - 1e-12))]]


@pytest.mark.parametrize("name", ["phased", "dual_track", "adaptive"])
@pytest.mark.parametrize("lead", [None, 0.0, 30.0])
def test_zero_defect_full_coverage_follows_the_preparation_lead(name, lead):
    """small_dict, 120 months, no defects (nor any the centre believes in): every unit pays at
    its closed-form time (1e-9) under the preset's lead (7.3 months), no lead, or a lead longer
    than the waves' spacing, and t_full is when the paying volume first reaches 99%."""
    strategies = {} if lead is None else {name: {"wave_lead_months": lead}}
    cfg = make_config(small_dict(
        time={"horizon_months": 120}, defects={"fixed_count": 0},
        centre={"new_defects_mean": 0.0,
                "belief": {"defect_count_mean": 0.0, "new_defects_mean": 0.0}},
        strategies=strategies))
    assert cfg.strategies[name].wave_lead_months == (7.3 if lead is None else lead)
    res, sim = run_one(cfg, name, record_events=True)
    start = {r[3]: r[0] for r in rows(res, "start")}
    pay = {r[3]: r[0] for r in rows(res, "pay")}
    expected = _pay_times_closed_form(sim, cfg, name, start)
    assert sorted(pay) == sorted(expected) == list(range(sim.n_units))
    for u in range(sim.n_units):
        assert pay[u] == pytest.approx(expected[u], rel=REL), f"unit {u}"
    t_full = _coverage_time(expected, sim.world.weight, cfg.outcomes.coverage_threshold)
    assert res.summary["t_full"] == pytest.approx(t_full, rel=REL)
