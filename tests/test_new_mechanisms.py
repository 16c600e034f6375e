"""The mechanisms through which slower can be faster (issue 11): central support (a queue),
learning spillovers, and national legitimacy, each against its switch and a closed form.

Every check is deterministic: exact (bit for bit against the switch off) or to a relative 1e-9
(closed forms). Seeds are the configs' (``seed``), replicate 0 unless stated.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import DATA, PLAIN_ONLY, event_times, make_config, merge, run_one, small_dict
from scipy.integrate import quad

from rollout.data import load_provinces
from rollout.experiment.runner import MECHANISM_FIELDS, SERIES_FIELDS
from rollout.model.simulation import Simulation
from rollout.model.world import build_world

REL = 1e-9


def one_province_dict(province: str = "Hebei", **extra) -> dict:
    """One province, every region of capacity exactly 1, preparation 6 months of work, no
    defects unless asked, nothing suspended unless asked, big bang."""
    base = {
        "name": "one_province", "seed": 5, "replicates": 1, "tracks": ["DRG"],
        "time": {"start": "2019-01", "horizon_months": 120},
        "regions": {"data": str(DATA), "provinces": [province], "capacity_low": 1.0,
                    "capacity_high": 1.0, "capacity_noise": 0.0},
        "preparation": {"mean_months": 6.0},
        "defects": {"fixed_count": 0, "kinds": PLAIN_ONLY},
        "suspension": {"enabled": False},
        "strategies": {"big_bang": {}},
    }
    return merge(base, extra)


def run_controlled(config, controller, equal_work: bool = False):
    """Run a hand-written controller (a SimPy process of the strategies' interface) in
    replicate 0; ``equal_work`` makes every unit's gamma draw 1 (preparation exactly 6 / k)."""
    world = build_world(config, load_provinces(config), config.seed, 0)
    if equal_work:
        world.prep_factor[:] = 1.0
    sim = Simulation(config, world, config.strategies["big_bang"], record_events=True)
    return sim.run(controller), sim


def assert_identical(a, b) -> None:
    """Two runs' every series, summary value and event, bit for bit."""
    for name in SERIES_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.summary.keys() == b.summary.keys()
    for key in a.summary:
        assert (a.summary[key] == b.summary[key]
                or (math.isnan(a.summary[key]) and math.isnan(b.summary[key]))), key
    assert a.events == b.events


STRATEGIES = ("big_bang", "phased", "dual_track", "adaptive")


#: severe defects, so that regions are suspended (credibility and legitimacy have work to do)
SEVERE = {"defects": {"severity_median": 0.5}}


def compare_with_switch_off(on: dict, replicates=(0, 1)) -> None:
    """Every preset of the small config with severe defects, with the mechanism on as ``on``
    says and off; suspensions must happen in some run, so the comparison covers them."""
    cfg_on = make_config(small_dict(**SEVERE, **on))
    cfg_off = make_config(small_dict(**SEVERE))
    provinces = load_provinces(cfg_on)
    suspensions = 0
    for r in replicates:
        world = build_world(cfg_on, provinces, cfg_on.seed, r)
        for name in STRATEGIES:
            a = Simulation(cfg_on, world, cfg_on.strategies[name], True).run(_ctrl())
            b = Simulation(cfg_off, world, cfg_off.strategies[name], True).run(_ctrl())
            assert_identical(a, b)
            suspensions += a.summary["suspensions"]
    assert suspensions > 0


def _ctrl():
    from rollout.strategies.controller import run_strategy
    return run_strategy


# --------------------------------------------------------------------------- central support
def test_support_with_a_team_for_every_region_changes_nothing():
    """21 regions, 21 teams: no unit ever waits, so every result equals the switch off."""
    compare_with_switch_off({"support": {"enabled": True, "teams": 21, "share": 0.5}})


@pytest.mark.parametrize("share", [1.0, 0.5, 0.25])
def test_support_single_team_is_a_single_server_queue(share):
    """Hebei's 11 regions start at 0 with 6 months of work each and one team: the k-th served
    (k = 0, 1, ...) gets the team at k x 6 x share and is ready 6 months later; the queue holds
    10 - (grants so far) regions."""
    cfg = make_config(one_province_dict(support={"enabled": True, "teams": 1, "share": share,
                                                 "broadcast_share": 0.0}))
    result, sim = run_one(cfg, record_events=True, world=_equal_world(cfg))
    n = sim.n_units
    assert n == 11
    service = 6.0 * share
    expected = [k * service + 6.0 for k in range(n)]
    assert sorted(event_times(result, "ready")) == pytest.approx(expected, rel=REL)
    grid = np.arange(1.0, cfg.time.horizon_months + 1)
    granted = np.minimum(n, np.floor(grid / service + 1e-9) + 1)
    np.testing.assert_array_equal(result.extra["support_queue"], n - granted)


def _equal_world(cfg):
    world = build_world(cfg, load_provinces(cfg), cfg.seed, 0)
    world.prep_factor[:] = 1.0
    return world


def test_support_queue_follows_the_lindley_recursion_with_unequal_work():
    """Two teams, gamma work: unit i (in start order) gets a team at G_i = max(A_i, the 2nd
    latest release time so far) and is ready at G_i + W_i; a team is free again at G_i + s W_i."""
    share = 0.6
    cfg = make_config(one_province_dict(support={"enabled": True, "teams": 2, "share": share,
                                                 "broadcast_share": 0.0}))
    result, sim = run_one(cfg, record_events=True)
    starts = {r[3]: r[0] for r in result.events if r[1] == 0}
    readies = {r[3]: r[0] for r in result.events if r[1] == 1}
    order = sorted(starts, key=lambda u: (starts[u], list(starts).index(u)))
    free = [0.0, 0.0]
    for u in order:
        work = 6.0 * float(sim.world.prep_factor[u])     # capacity 1
        grant = max(starts[u], min(free))
        free[free.index(min(free))] = grant + share * work
        assert readies[u] == pytest.approx(grant + work, rel=REL), u


# --------------------------------------------------------------------------- spillovers
def test_spillovers_closed_form_of_preparation_under_the_curve():
    """Unit 0 starts at 0 (experience 0), unit 1 at 20 after unit 0 operated (experience 1),
    unit 2 at 40 after two (experience 2): preparation W_i x (1 + E)^-b."""
    b = 0.3
    cfg = make_config(one_province_dict(spillovers={"enabled": True, "elasticity": b}))

    def controller(sim):
        for i in range(3):
            sim.start_unit(i, 0, 0.0, 0.0)
            yield sim.env.timeout(20.0)

    result, sim = run_controlled(cfg, controller)
    for i, t0 in enumerate((0.0, 20.0, 40.0)):
        base = 6.0 * float(sim.world.prep_factor[i])
        ready = event_times(result, "ready", unit=i)[0]
        assert ready - t0 == pytest.approx(base * (1.0 + i) ** -b, rel=REL)
    # the experience series counts the regions that have operated
    assert result.extra["experience"][[0, 19, 39, 119]].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_spillovers_count_releases_with_their_weight():
    """Experience at the horizon = regions that operated + weight x releases (event log)."""
    cfg = make_config(small_dict(spillovers={"enabled": True, "release_weight": 2.5}))
    result, sim = run_one(cfg, "phased", record_events=True)
    operated = {r[3] for r in result.events if r[1] in (2, 3)}     # shadow or pay
    releases = len([r for r in result.events if r[1] == 7])
    assert releases > 0
    assert result.extra["experience"][-1] == pytest.approx(len(operated) + 2.5 * releases)


def test_spillovers_with_elasticity_zero_change_nothing():
    compare_with_switch_off({"spillovers": {"enabled": True, "elasticity": 0.0}})


# --------------------------------------------------------------------------- legitimacy
def test_legitimacy_without_failures_changes_nothing():
    """No suspension, so no failure: trust stays 1 and every result equals the switch off."""
    on = {"legitimacy": {"enabled": True}, "suspension": {"enabled": False}}
    cfg_on, cfg_off = make_config(small_dict(**on)), make_config(small_dict(
        suspension={"enabled": False}))
    provinces = load_provinces(cfg_on)
    for r in (0, 1):
        world = build_world(cfg_on, provinces, cfg_on.seed, r)
        for name in STRATEGIES:
            a = Simulation(cfg_on, world, cfg_on.strategies[name], True).run(_ctrl())
            b = Simulation(cfg_off, world, cfg_off.strategies[name], True).run(_ctrl())
            assert_identical(a, b)
            assert np.all(a.extra["trust"] == 1.0) and np.all(a.extra["halted"] == 0)


def test_legitimacy_never_below_threshold_and_no_slowing_changes_nothing():
    """Failures happen (suspensions), but trust never falls below a threshold of 0 and slowing
    is 0: every result equals the switch off, while trust does fall."""
    on = {"legitimacy": {"enabled": True, "halt_threshold": 0.0, "slowing": 0.0}}
    compare_with_switch_off(on)
    cfg = make_config(small_dict(**SEVERE, **on))
    result, _ = run_one(cfg, "big_bang")
    assert result.summary["suspensions"] > 0 and result.extra["trust"].min() < 1.0


def _failure_config(**legitimacy) -> dict:
    """Ningxia (5 regions), one universal plain defect whose harm is twice the benefit, never
    detected: a paying region is suspended exactly 6 months after it first pays."""
    return one_province_dict(
        "Ningxia", preparation={"mean_months": 1.0},
        defects={"fixed_count": 1, "universal_prob": 1.0, "severity_median": 2.0,
                 "severity_sigma": 0.0, "detectability_median": 1e-9,
                 "detectability_sigma": 0.0},
        learning={"report_prob": 0.0, "local_patch_prob": 0.0},
        suspension={"enabled": True, "credibility_cost": 0.0},
        legitimacy={"enabled": True, **legitimacy})


@pytest.mark.parametrize(("halt_months", "drop"), [(1.0, 0.6), (6.0, 0.6), (2.0, 0.9)])
def test_legitimacy_forced_failure_halts_at_the_closed_form_time(halt_months, drop):
    """Unit 0 pays at W_0 and is suspended at W_0 + 6 (national deficit D = drop): the reform
    halts then, until max(halt, half-life x log2(D / (1 - threshold))); unit 1, asked to start
    during the halt, starts when it ends, and its work W_1 goes at the pace 1 / (1 + slowing x
    D(t)), D the national deficit as it decays (issue 20): the integral of the pace from its
    start to its ready time is W_1 (numerical quadrature against the closed form pace.py
    uses). Trust on the grid is 1 - D 2^(-(t - t_s) / h)."""
    half_life, threshold, slowing, p_drop = 12.0, 0.5, 1.5, 0.3
    cfg = make_config(_failure_config(national_drop=drop, province_drop=p_drop,
                                      recovery_months=half_life, halt_threshold=threshold,
                                      halt_months=halt_months, slowing=slowing))

    def controller(sim):
        sim.start_unit(0, 0, 0.0, 0.0)
        yield sim.env.timeout(8.0)
        sim.start_unit(1, 0, 0.0, 0.0)

    result, sim = run_controlled(cfg, controller)
    w0 = 1.0 * float(sim.world.prep_factor[0])
    t_s = event_times(result, "suspend", unit=0)[0]
    assert t_s == pytest.approx(w0 + 6.0, rel=REL)
    assert t_s < 8.0
    t_end = t_s + max(halt_months, half_life * math.log2(drop / (1.0 - threshold)))
    start1 = event_times(result, "start", unit=1)
    assert start1 == pytest.approx([t_end], rel=REL)
    work1 = 1.0 * float(sim.world.prep_factor[1])
    ready1 = event_times(result, "ready", unit=1)[0]
    done, _ = quad(lambda t: 1.0 / (1.0 + slowing * drop * 2.0 ** (-(t - t_s) / half_life)),
                   t_end, ready1, epsabs=1e-13, epsrel=1e-12)
    assert done == pytest.approx(work1, rel=1e-8)
    assert ready1 - t_end > work1          # slowed
    # up to unit 1's own suspension (the second failure)
    t_next = event_times(result, "suspend", unit=1)[0]
    assert t_next > t_end
    grid = np.arange(1.0, 121.0)
    before = grid < t_next
    expected = np.where(grid >= t_s, 1.0 - drop * 2.0 ** (-(grid - t_s) / half_life), 1.0)
    np.testing.assert_allclose(result.extra["trust"][before], expected[before], rtol=REL)
    halted = ((grid >= t_s) & (grid < t_end)).astype(np.int8)
    np.testing.assert_array_equal(result.extra["halted"][before], halted[before])


def test_legitimacy_slows_adoption_delays():
    """Every adoption of a run with failures comes after the world's delay draw x the mean
    delay x (1 + slowing x (1 - trust)), trust = national x province trust at the release
    (read off the logged deficits, decayed)."""
    slowing = 2.0
    cfg = make_config(small_dict(**SEVERE, legitimacy={"enabled": True, "slowing": slowing,
                                                       "halt_threshold": 0.0}))
    result, sim = run_one(cfg, "big_bang", record_events=True)
    leg = sim.legitimacy
    assert result.summary["suspensions"] > 0

    def deficit(log, key, t):
        last = [(tt, d) for tt, k, d in log if k == key and tt <= t]
        return last[-1][1] * 2.0 ** (-(t - last[-1][0]) / cfg.legitimacy.recovery_months) \
            if last else 0.0

    released = {(r[4], r[6]): r[0] for r in result.events if r[1] == 7}
    checked = slowed = 0
    for row in result.events:
        if row[1] != 8:                            # adopt
            continue
        t, _, p, u, track, _, version = row[:7]
        t_r = released[(track, version)]
        trust = (1.0 - deficit(leg.national_log, 0, t_r)) * \
            (1.0 - deficit(leg.province_log, p, t_r))
        factor = 1.0 + slowing * (1.0 - trust)
        draw = float(sim.world.adoption_delay(track, version)[u])
        assert t - t_r == pytest.approx(cfg.adoption.mean_delay * draw * factor, rel=REL)
        checked += 1
        slowed += factor > 1.0
    assert checked > 20 and slowed > 0, (checked, slowed)


def test_mechanism_series_are_in_every_result():
    cfg = make_config(small_dict())
    result, _ = run_one(cfg, "phased")
    assert set(result.extra) == set(MECHANISM_FIELDS)
    assert result.extra["province_trust"].shape == (60, 4)
    assert np.all(result.extra["support_queue"] == 0)


# --------------------------------------------------------------------------- entrenchment
GAMING_ONLY = {name: {"share": 0.0} for name in (
    "grouping_error", "weight_miscalibration", "upcoding", "patient_selection",
    "split_admissions")} | {"cost_shifting": {"share": 1.0, "detectability_factor": 1.0,
                                              "tau_learn": 9.0, "tau_unlearn": 12.0}}


def _gaming_region(residue_share: float, residue_months: float) -> dict:
    """Beijing (one region, weight 1), one universal cost-shifting defect (learn 9, unlearn 12)
    of severity 0.2, patched locally at its first detection, never reported, no suspension."""
    return one_province_dict(
        "Beijing", preparation={"mean_months": 1e-6},
        defects={"fixed_count": 1, "universal_prob": 1.0, "severity_median": 0.2,
                 "severity_sigma": 0.0, "detectability_median": 0.05,
                 "detectability_sigma": 0.0, "kinds": GAMING_ONLY},
        learning={"report_prob": 0.0, "local_patch_prob": 1.0},
        entrenchment={"enabled": True, "residue_share": residue_share,
                      "residue_months": residue_months, "imitation": 0.0})


@pytest.mark.parametrize(("rho", "tau_r"), [(0.25, 0.0), (0.4, 60.0), (1.0, 0.0), (0.0, 0.0)])
def test_entrenchment_residue_harm_closed_form(rho, tau_r):
    """Harm over the horizon H of a region that pays from t_p, learns with tau 9 until the
    patch at t_d (exploitation e_d = 1 - exp(-(t_d - t_p)/9)), then keeps (1 - rho) e_d decaying
    with tau 12 and a residue rho e_d that never decays (tau_r = 0) or decays with tau_r:
    s [(t_d - t_p) - 9 e_d + (1 - rho) e_d 12 (1 - exp(-(H - t_d)/12)) + rho e_d R],
    R = H - t_d or tau_r (1 - exp(-(H - t_d)/tau_r))."""
    data = _gaming_region(rho, tau_r)
    data["strategies"] = {"big_bang": {"wave_shadow_months": 0.0}}
    cfg = make_config(data)
    result, sim = run_one(cfg, record_events=True)
    t_p = event_times(result, "pay", unit=0)[0]
    t_d = event_times(result, "patch", unit=0)[0]
    assert t_p < t_d < 100.0
    s, horizon = 0.2, 120.0
    e_d = -math.expm1(-(t_d - t_p) / 9.0)
    learning = (t_d - t_p) - 9.0 * e_d
    fast = (1.0 - rho) * e_d * 12.0 * -math.expm1(-(horizon - t_d) / 12.0)
    rest = horizon - t_d if tau_r == 0.0 else tau_r * -math.expm1(-(horizon - t_d) / tau_r)
    expected = s * (learning + fast + rho * e_d * rest)
    assert result.summary["harm_total"] == pytest.approx(expected, rel=1e-9)


def test_entrenchment_imitation_closed_form():
    """Ningxia's 5 regions start together and begin paying one after another under a universal
    cost-shifting defect never detected: the k-th to pay (k = 0, 1, ...) learns with tau
    9 / (1 + imitation x min(k, max_teachers)); its harm to the horizon is
    s w [(H - t_k) - tau_k (1 - exp(-(H - t_k) / tau_k))]."""
    imitation, cap, s, horizon = 0.5, 3, 0.2, 120.0
    data = one_province_dict(
        "Ningxia", defects={"fixed_count": 1, "universal_prob": 1.0, "severity_median": s,
                            "severity_sigma": 0.0, "detectability_median": 1e-9,
                            "detectability_sigma": 0.0, "kinds": GAMING_ONLY},
        learning={"report_prob": 0.0, "local_patch_prob": 0.0},
        entrenchment={"enabled": True, "residue_share": 0.0, "imitation": imitation,
                      "max_teachers": cap})
    cfg = make_config(data)
    result, sim = run_one(cfg, record_events=True)
    pays = sorted((r[0], r[3]) for r in result.events if r[1] == 3)
    assert len(pays) == 5
    for k, (t_k, u) in enumerate(pays):
        tau = 9.0 / (1.0 + imitation * min(k, cap))
        w = float(sim.world.weight[u])
        x = horizon - t_k
        expected = s * w * (x + tau * math.expm1(-x / tau))
        assert sim.exposure.harm_cum[u] == pytest.approx(expected, rel=1e-9), k


def test_entrenchment_without_residue_or_imitation_changes_nothing():
    compare_with_switch_off({"entrenchment": {"enabled": True, "residue_share": 0.0,
                                              "imitation": 0.0}})


def test_entrenchment_residue_never_decaying_keeps_a_region_suspended():
    """The defect is patched at 7.5 months with exploitation 0.56 (seed 5), all of it left as a
    residue that never decays: harm 2 x 0.56 stays over the limit 1, so the region is suspended
    6 months after it first exceeded it and never resumes (not even at the horizon)."""
    data = _gaming_region(1.0, 0.0)
    data["defects"]["severity_median"] = 2.0
    data["defects"]["detectability_median"] = 0.01
    data["suspension"] = {"enabled": True, "credibility_cost": 0.0}
    data["strategies"] = {"big_bang": {"wave_shadow_months": 0.0}}
    cfg = make_config(data)
    result, _ = run_one(cfg, record_events=True)
    t_d = event_times(result, "patch", unit=0)[0]
    assert -math.expm1(-t_d / 9.0) * 2.0 > 1.0          # the residue alone is over the limit
    assert event_times(result, "suspend", unit=0) == pytest.approx([9.0 * math.log(2) + 6.0])
    assert not event_times(result, "resume", unit=0)


# --------------------------------------------------------------------------- track fit
def test_track_fit_neutral_laws_change_nothing():
    neutral = {"preparation_low": 1.0, "preparation_high": 1.0, "severity_low": 1.0,
               "severity_high": 1.0}
    compare_with_switch_off({"track_fit": {"enabled": True,
                                           "tracks": {"DRG": neutral, "DIP": neutral}}})


def test_track_fit_scales_preparation_and_severity_by_tier():
    """Every unit of every preset of the small config: preparation (ready - start, no
    suspension so credibility 1) = base work x its track's tier factor, and every pair's
    severity = the defect's severity x its track's tier factor."""
    laws = {"DRG": {"preparation_low": 1.5, "preparation_high": 0.9, "severity_low": 1.3,
                    "severity_high": 0.7},
            "DIP": {"preparation_low": 0.6, "preparation_high": 1.1, "severity_low": 0.8,
                    "severity_high": 1.2}}
    tier = 0.6
    cfg = make_config(small_dict(suspension={"enabled": False},
                                 track_fit={"enabled": True, "tier_capacity": tier,
                                            "tracks": laws}))
    names = cfg.tracks
    tiers_seen = set()
    for strategy in STRATEGIES:
        result, sim = run_one(cfg, strategy, record_events=True)
        starts = {r[3]: (r[0], r[4]) for r in result.events if r[1] == 0}
        readies = {r[3]: r[0] for r in result.events if r[1] == 1}
        for u, (t0, track) in starts.items():
            low = sim.world.capacity[u] < tier
            law = laws[names[track]]
            tiers_seen.add((track, bool(low)))
            base = cfg.preparation.mean_months / sim.world.capacity[u] \
                * sim.world.prep_factor[u]
            factor = law["preparation_low"] if low else law["preparation_high"]
            if u in readies:
                assert readies[u] - t0 == pytest.approx(base * factor, rel=REL)
            ts = sim.centre.tracks[track]
            sev = law["severity_low"] if low else law["severity_high"]
            for pr in sim.exposure.pairs[u]:
                assert pr.s == pytest.approx(ts.s[pr.d] * sev, rel=REL)
    assert len(tiers_seen) == 4      # both tracks in both tiers were checked


def test_track_fit_names_only_known_tracks():
    from rollout.errors import ConfigError

    with pytest.raises(ConfigError, match="track_fit.tracks.XYZ"):
        make_config(small_dict(track_fit={"enabled": True, "tracks": {"XYZ": {}}}))


# --------------------------------------------------------------------------- all five
ALL_ON = {"support": {"enabled": True, "teams": 3},
          "spillovers": {"enabled": True},
          "legitimacy": {"enabled": True, "national_drop": 0.3, "halt_months": 3.0},
          "entrenchment": {"enabled": True, "imitation": 1.0},
          "track_fit": {"enabled": True, "tracks": {"DRG": {"preparation_low": 1.4,
                                                            "severity_low": 1.3}}}}


def test_all_five_keep_common_random_numbers_a_design_k_months_later():
    """Hebei (11 regions), gaming defects severe enough to suspend, local patches, 3 support
    teams, every mechanism on: big bang started 12 months later meets every event of every
    unit (start, ready, pay, detect, patch, suspend, resume) exactly 12 months later (1e-7
    months). Reports are off: the centre's clock starts at 0 and would not shift."""
    kinds = {name: {"share": 0.0} for name in (
        "grouping_error", "weight_miscalibration", "upcoding", "patient_selection",
        "split_admissions")} | {"cost_shifting": {"share": 1.0}}
    data = one_province_dict(
        regions={"capacity_low": 0.35, "capacity_high": 0.9, "capacity_noise": 0.3},
        defects={"fixed_count": 3, "universal_prob": 1.0, "severity_median": 1.5,
                 "detectability_median": 0.03, "kinds": kinds},
        learning={"report_prob": 0.0, "local_patch_prob": 0.5},
        suspension={"enabled": True}, **ALL_ON)
    data["strategies"] = {"big_bang": {},
                          "late": {"preset": "big_bang", "wave_dates": ["2020-01"]}}
    cfg = make_config(data)
    world = build_world(cfg, load_provinces(cfg), cfg.seed, 0)
    early, sim = run_one(cfg, "big_bang", record_events=True, world=world)
    late, _ = run_one(cfg, "late", record_events=True, world=world)
    cut = 120.0 - 12.0 - 1e-6

    def unit_events(result, shift):
        return sorted((r[1], r[3], r[5], r[0] - shift) for r in result.events
                      if r[3] >= 0 and r[0] - shift < cut)

    e, lt = unit_events(early, 0.0), unit_events(late, 12.0)
    assert [r[:3] for r in e] == [r[:3] for r in lt]
    np.testing.assert_allclose([r[3] for r in e], [r[3] for r in lt], rtol=0, atol=1e-7)
    kinds_seen = {r[0] for r in e}
    assert {0, 1, 3, 4, 6, 9} <= kinds_seen, kinds_seen     # start ready pay detect patch suspend
    assert early.extra["support_queue"].max() > 0 and early.extra["halted"].sum() > 0
    np.testing.assert_array_equal(late.extra["halted"][12:], early.extra["halted"][:-12])


# --------------------------------------------------------------------------- review fixes
def test_a_held_unit_released_during_a_halt_operates_after_it():
    """Unit 1 is started held and released while the reform is paused (its start deferred):
    when the pause ends it starts, and it operates as soon as it is prepared (it is not left
    waiting for a release that already came)."""
    cfg = make_config(_failure_config(national_drop=0.6, halt_months=4.0))

    def controller(sim):
        sim.start_unit(0, 0, 0.0, 0.0)
        yield sim.env.timeout(8.0)
        sim.start_unit(1, 0, 0.0, 0.0, hold=True)
        sim.release_units([1])

    result, sim = run_controlled(cfg, controller)
    t_s = event_times(result, "suspend", unit=0)[0]
    start = event_times(result, "start", unit=1)
    assert start == pytest.approx([t_s + 4.0])
    ready = event_times(result, "ready", unit=1)[0]
    assert event_times(result, "pay", unit=1)[0] == pytest.approx(ready)


def test_a_halt_threshold_of_one_pauses_to_the_end():
    """Trust below 1 after any failure, and it never gets back to 1 exactly: the pause lasts
    to the horizon (no start after the first failure), without error."""
    cfg = make_config(_failure_config(halt_threshold=1.0))

    def controller(sim):
        sim.start_unit(0, 0, 0.0, 0.0)
        yield sim.env.timeout(8.0)
        sim.start_unit(1, 0, 0.0, 0.0)

    result, _ = run_controlled(cfg, controller)
    t_s = event_times(result, "suspend", unit=0)[0]
    assert not event_times(result, "start", unit=1)
    grid = np.arange(1.0, 121.0)
    np.testing.assert_array_equal(result.extra["halted"], (grid >= t_s).astype(np.int8))


def test_regions_that_begin_paying_together_do_not_teach_each_other():
    """Ningxia's 5 regions with equal work pay at the same instant under a universal gaming
    defect: none has a neighbour who began before it, so each learns with tau 9 whatever the
    order in which their events are processed."""
    s, horizon = 0.2, 120.0
    data = one_province_dict(
        "Ningxia", defects={"fixed_count": 1, "universal_prob": 1.0, "severity_median": s,
                            "severity_sigma": 0.0, "detectability_median": 1e-9,
                            "detectability_sigma": 0.0, "kinds": GAMING_ONLY},
        regions={"capacity_noise": 0.0},
        learning={"report_prob": 0.0, "local_patch_prob": 0.0},
        entrenchment={"enabled": True, "residue_share": 0.0, "imitation": 1.0})
    cfg = make_config(data)
    result, sim = run_one(cfg, record_events=True, world=_equal_world(cfg))
    pays = [(r[0], r[3]) for r in result.events if r[1] == 3]
    assert len(pays) == 5 and len({t for t, _ in pays}) == 1
    for t_k, u in pays:
        x = horizon - t_k
        expected = s * float(sim.world.weight[u]) * (x + 9.0 * math.expm1(-x / 9.0))
        assert sim.exposure.harm_cum[u] == pytest.approx(expected, rel=1e-9), u


def test_entrenchment_neutral_with_a_decaying_residue_changes_nothing():
    compare_with_switch_off({"entrenchment": {"enabled": True, "residue_share": 0.0,
                                              "residue_months": 60.0, "imitation": 0.0}})


def test_track_fit_laws_merge_over_the_defaults_and_fit_one_track_configs():
    from rollout.config import validate_dict

    cfg = validate_dict(small_dict(track_fit={"enabled": True,
                                              "tracks": {"DRG": {"severity_low": 1.5}}}))
    drg, dip = cfg.track_fit.tracks["DRG"], cfg.track_fit.tracks["DIP"]
    assert (drg.severity_low, drg.severity_high, drg.preparation_low) == (1.5, 0.8, 1.25)
    assert dip.preparation_low == 0.75
    one = small_dict(tracks=["DRG"], track_fit={"enabled": True})
    one["strategies"] = {"big_bang": {}, "phased": one["strategies"]["phased"]}
    assert make_config(one).track_fit.enabled


def test_mechanism_parameters_set_while_switched_off_change_nothing():
    """A sweep samples every mechanism's parameters whether or not it is on: with the switches
    off, any values of them give the switch-off results (this crashed for a decaying residue)."""
    compare_with_switch_off({"entrenchment": {"residue_months": 76.06, "imitation": 2.0},
                             "support": {"teams": 2, "share": 1.0},
                             "spillovers": {"elasticity": 1.0},
                             "legitimacy": {"national_drop": 1.0, "halt_threshold": 1.0},
                             "track_fit": {"tier_capacity": 0.9}})
