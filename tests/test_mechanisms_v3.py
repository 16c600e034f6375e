"""Model v3 (issue 20): mechanisms that act on every design alike.

Closed forms for the new rules (spillovers and legitimacy act on work in progress through the
national pace, support's broadcast share, track choice by fit, enforcement against entrenched
gaming), and a symmetry check: each mechanism, in a limit case where it must act, changes big
bang's results and every piloting design's. Every check is deterministic (the configs' seeds,
replicate 0 unless stated): exact, or to a relative 1e-9 against a closed form, or 1e-8 against
numerical quadrature.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import event_times, make_config, run_one, small_dict
from scipy.integrate import quad
from test_new_mechanisms import (
    SEVERE,
    _equal_world,
    _failure_config,
    _gaming_region,
    assert_identical,
    one_province_dict,
)

from rollout.data import load_provinces
from rollout.model.mechanisms.entrenchment import enforced_tau
from rollout.model.mechanisms.track_fit import fitting_tracks
from rollout.model.pace import Pace
from rollout.model.simulation import Simulation
from rollout.model.world import build_world
from rollout.strategies.controller import run_strategy

REL = 1e-9
DESIGNS = ("big_bang", "big_bang_matched", "phased", "dual_track", "adaptive")


def run_with_work(config, controller, work: dict[int, float]):
    """Run a hand-written controller in replicate 0 with some units' gamma draw of preparation
    set (work = 6 x draw months at capacity 1 and 6 months mean; x draw at 1 month mean)."""
    world = build_world(config, load_provinces(config), config.seed, 0)
    for u, draw in work.items():
        world.prep_factor[u] = draw
    sim = Simulation(config, world, config.strategies["big_bang"], record_events=True)
    return sim.run(controller), sim


# --------------------------------------------------------------------------- the pace
class _Clock:
    class env:
        _now = 0.0


@pytest.mark.parametrize(("kappa", "a", "r"), [(1.0, 0.0, 0.0), (1.7, 0.0, 0.0),
                                               (1.0, 0.8, 0.05), (2.3, 3.0, 0.2)])
def test_the_pace_integral_and_its_inverse(kappa, a, r):
    """Phi(t) is the integral of kappa / (1 + a e^(-r t)) (quadrature), and time_to inverts
    it."""
    pace = Pace(_Clock())
    pace.kappa, pace.a, pace.r, pace.active = kappa, a, r, True
    for t in (0.5, 7.0, 40.0):
        exact, _ = quad(lambda x: kappa / (1.0 + a * math.exp(-r * x)), 0.0, t,
                        epsabs=1e-13, epsrel=1e-12)
        assert pace.phi(t) == pytest.approx(exact, rel=1e-10)
        assert pace.time_to(pace.phi(t)) == pytest.approx(t, rel=1e-10)
    pace.kappa = 0.0
    assert pace.time_to(1.0) == math.inf


# --------------------------------------------------------------------------- spillovers
def test_spillovers_speed_the_work_that_remains_for_big_bang():
    """Big bang: unit 0 (W_0) and unit 1 (W_1 = 30 months) start at 0. Unit 0 operates at W_0
    (experience 1); unit 1's remaining work then goes at 2^b: ready at W_0 + (W_1 - W_0) 2^-b.
    Under model v2 (factor fixed at the start, experience 0) it was ready at W_1."""
    b = 0.4
    cfg = make_config(one_province_dict(spillovers={"enabled": True, "elasticity": b}))

    def controller(sim):
        sim.start_unit(0, 0, 0.0, 0.0)
        sim.start_unit(1, 0, 0.0, 0.0)
        yield sim.env.timeout(0.0)

    result, sim = run_with_work(cfg, controller, {1: 5.0})     # 30 months at capacity 1
    w0 = 6.0 * float(sim.world.prep_factor[0])
    assert event_times(result, "ready", unit=0)[0] == pytest.approx(w0, rel=REL)
    expected = w0 + (30.0 - w0) * 2.0 ** -b
    assert event_times(result, "ready", unit=1)[0] == pytest.approx(expected, rel=REL)


def test_spillovers_reach_a_unit_that_queued_for_support():
    """Hebei's 11 regions start at 0 with 6 months of work each and one team held for all of
    it (share 1, nothing broadcast): the k-th served works while k regions have operated, so
    it is ready at 6 x sum_{j <= k} (1 + j)^-b (not 6 (k + 1), the queue alone)."""
    b = 0.3
    cfg = make_config(one_province_dict(
        support={"enabled": True, "teams": 1, "share": 1.0, "broadcast_share": 0.0},
        spillovers={"enabled": True, "elasticity": b}))
    result, _ = run_one(cfg, record_events=True, world=_equal_world(cfg))
    expected = np.cumsum([6.0 * (1.0 + j) ** -b for j in range(11)])
    np.testing.assert_allclose(sorted(event_times(result, "ready")), expected, rtol=REL)


# --------------------------------------------------------------------------- support
@pytest.mark.parametrize(("share", "broadcast"), [(1.0, 0.5), (0.8, 0.25)])
def test_broadcast_support_does_not_queue(share, broadcast):
    """One team, 11 regions of 6 months' work: the team is held for share x (1 - broadcast) of
    the work, so the k-th served is ready at k x 6 q + 6, q = share (1 - broadcast)."""
    cfg = make_config(one_province_dict(support={"enabled": True, "teams": 1, "share": share,
                                                 "broadcast_share": broadcast}))
    result, _ = run_one(cfg, record_events=True, world=_equal_world(cfg))
    q = share * (1.0 - broadcast)
    np.testing.assert_allclose(sorted(event_times(result, "ready")),
                               [k * 6.0 * q + 6.0 for k in range(11)], rtol=REL)


def test_support_all_broadcast_changes_nothing():
    from test_new_mechanisms import compare_with_switch_off
    compare_with_switch_off({"support": {"enabled": True, "teams": 1, "broadcast_share": 1.0}})


# --------------------------------------------------------------------------- legitimacy
@pytest.mark.parametrize("slowing", [0.0, 1.5])
def test_a_pause_stops_work_in_progress(slowing):
    """Ningxia: unit 0 pays at W_0 and is suspended at t_s = W_0 + 6, which pauses the reform
    to t_end; unit 1 (30 months of work, started at 0) does t_s of it before, none during the
    pause, and the rest after at the pace 1 / (1 + slowing D(t)): the integral of the pace
    from t_end to its ready time is 30 - t_s (quadrature; with no slowing, ready at
    30 + t_end - t_s)."""
    drop, half_life, halt = 0.6, 12.0, 9.0
    cfg = make_config(_failure_config(national_drop=drop, province_drop=0.0,
                                      recovery_months=half_life, halt_threshold=0.5,
                                      halt_months=halt, slowing=slowing))

    def controller(sim):
        sim.start_unit(0, 0, 0.0, 0.0)
        sim.start_unit(1, 0, 0.0, 0.0)
        yield sim.env.timeout(0.0)

    result, sim = run_with_work(cfg, controller, {1: 30.0})    # 30 months (mean 1 month)
    t_s = event_times(result, "suspend", unit=0)[0]
    t_end = t_s + max(halt, half_life * math.log2(drop / 0.5))
    ready = event_times(result, "ready", unit=1)[0]
    assert ready > t_end
    if slowing == 0.0:
        assert ready == pytest.approx(30.0 + t_end - t_s, rel=REL)
    else:
        done, _ = quad(lambda t: 1.0 / (1.0 + slowing * drop * 2.0 ** (-(t - t_s) / half_life)),
                       t_end, ready, epsabs=1e-13, epsrel=1e-12)
        assert done == pytest.approx(30.0 - t_s, rel=1e-8)


def _halted_spans(sim) -> list[tuple[float, float]]:
    log, spans = sim.legitimacy.halt_log, []
    for (t0, _, flag), nxt in zip(log, [*log[1:], (math.inf, 0, 0)], strict=True):
        if flag:
            spans.append((t0, nxt[0]))
    return spans


@pytest.mark.parametrize("design", ["big_bang", "phased"])
def test_nothing_is_prepared_or_adopted_during_a_pause(design):
    """A pause at every failure: no unit becomes ready or adopts a version strictly inside a
    pause, in big bang as in phased (both have pauses in this run)."""
    cfg = make_config(small_dict(**SEVERE, legitimacy={"enabled": True, "halt_threshold": 0.99,
                                                       "halt_months": 6.0}))
    result, sim = run_one(cfg, design, record_events=True)
    spans = _halted_spans(sim)
    assert spans
    for kind in ("ready", "adopt"):
        for t in event_times(result, kind):
            assert not any(t0 < t < t1 for t0, t1 in spans), (kind, t, spans)


def test_a_pause_at_every_failure_reaches_big_bang_and_its_length_matters():
    """Issue 20's measurement: with a pause at every failure, big bang's results were
    bit-identical whether a pause lasted 1 month or 24. Now a pause's length changes every
    design's results. Trust recovers fast here (national drop 0.02, half-life 1 month, so
    recovery to the threshold 0.99 takes about a month): the pause's length is then set by
    ``halt_months``, not by the recovery (with slow recovery big bang's burst of failures
    pauses the reform to the horizon whatever ``halt_months`` says)."""
    results = {}
    for months in (1.0, 24.0):
        cfg = make_config(small_dict(defects={"severity_median": 0.3}, legitimacy={
            "enabled": True, "halt_threshold": 0.99, "national_drop": 0.02,
            "recovery_months": 1.0, "halt_months": months}))
        world = build_world(cfg, load_provinces(cfg), cfg.seed, 0)
        results[months] = {d: run_one(cfg, d, world=world) for d in cfg.strategies}
    for design in results[1.0]:
        (a, sim_a), (b, sim_b) = results[1.0][design], results[24.0][design]
        assert sim_a.legitimacy.halts > 0 and sim_b.legitimacy.halts > 0, design
        assert not np.array_equal(a.coverage, b.coverage), design


# --------------------------------------------------------------------------- track fit
def test_fitting_tracks_by_tier():
    """Defaults: DIP errs less in the low tier (1 against 1.25), DRG in the high (0.8 against 1);
    with track fit off every unit gets the strategy's track."""
    cfg = make_config(small_dict(track_fit={"enabled": True}))
    capacity = np.array([0.2, 0.59, 0.6, 0.95])
    assert fitting_tracks(cfg, capacity, 0).tolist() == [1, 1, 0, 0]
    off = make_config(small_dict())
    assert fitting_tracks(off, capacity, 0).tolist() == [0, 0, 0, 0]
    # equal severity factors: the lower preparation factor decides (DIP's 0.75)
    even = make_config(small_dict(track_fit={"enabled": True, "tracks": {
        "DRG": {"severity_low": 1.0, "severity_high": 1.0}}}))
    assert fitting_tracks(even, capacity, 0).tolist() == [1, 1, 1, 1]


def test_big_bang_matched_puts_each_region_on_its_fitting_track():
    data = small_dict(track_fit={"enabled": True})
    data["strategies"]["big_bang_matched"] = {}
    cfg = make_config(data)
    result, sim = run_one(cfg, "big_bang_matched", record_events=True)
    starts = {r[3]: r[4] for r in result.events if r[1] == 0}
    low = sim.world.capacity < cfg.track_fit.tier_capacity
    assert len(starts) == sim.n_units and 0 < low.sum() < sim.n_units
    assert all(starts[u] == (1 if low[u] else 0) for u in starts)


def test_big_bang_matched_without_track_fit_is_big_bang():
    data = small_dict()
    data["strategies"]["big_bang_matched"] = {}
    cfg = make_config(data)
    world = build_world(cfg, load_provinces(cfg), cfg.seed, 0)
    a, _ = run_one(cfg, "big_bang", record_events=True, world=world)
    b, _ = run_one(cfg, "big_bang_matched", record_events=True, world=world)
    assert_identical(a, b)


# --------------------------------------------------------------------------- enforcement
@pytest.mark.parametrize(("lag", "tau_r"), [(0.0, 0.0), (30.0, 0.0), (10.0, 60.0)])
def test_enforcement_removes_the_residue_closed_form(lag, tau_r):
    """Beijing, one gaming defect patched at its first detection t_d (residue rho e_d) and
    reported at t_k: enforcement from t_e = max(t_k + lag, t_d) makes the residue decay with
    tau_e = enforced_tau(tau_r, 24). Harm with enforcement = harm without - s R_e (tail_off -
    tail_on), R_e the residue at t_e, tail_on = tau_e (1 - exp(-(H - t_e) / tau_e)) and
    tail_off = H - t_e (never decays) or tau_r (1 - exp(-(H - t_e) / tau_r))."""
    rho, s, horizon, enf = 0.5, 0.2, 120.0, 24.0
    runs = {}
    for on in (False, True):
        data = _gaming_region(rho, tau_r)
        data["learning"] = {"report_prob": 1.0, "local_patch_prob": 1.0,
                            "report_delay_mean": 2.0}
        data["centre"] = {"new_defects_mean": 0.0}
        data["entrenchment"]["enforcement"] = {"enabled": on, "lag_months": lag,
                                               "months": enf}
        cfg = make_config(data)
        runs[on] = run_one(cfg, record_events=True)[0]
    off, on = runs[False], runs[True]
    t_p = event_times(off, "pay", unit=0)[0]
    t_d = event_times(off, "patch", unit=0)[0]
    t_k = event_times(off, "report")[0]
    assert event_times(on, "patch", unit=0) == [t_d]
    t_e = max(t_k + lag, t_d)
    assert t_e < horizon
    e_d = -math.expm1(-(t_d - t_p) / 9.0)
    r_e = rho * e_d * (1.0 if tau_r == 0.0 else math.exp(-(t_e - t_d) / tau_r))
    tau_e = {0.0: 24.0, 60.0: 1.0 / (1.0 / 60.0 + 1.0 / 24.0)}[tau_r]    # the rates add
    assert enforced_tau(tau_r, enf) == pytest.approx(tau_e, rel=1e-15)
    x = horizon - t_e
    tail_on = tau_e * -math.expm1(-x / tau_e)
    tail_off = x if tau_r == 0.0 else tau_r * -math.expm1(-x / tau_r)
    expected = off.summary["harm_total"] - s * r_e * (tail_off - tail_on)
    assert on.summary["harm_total"] == pytest.approx(expected, rel=REL)


def test_with_enforcement_a_region_that_kept_gaming_reaches_stable_coverage():
    """The residue of half the exploitation never decays: harm stays above 5% of benefit
    (1 x 0.5 x e_d) and the region is never stable; with enforcement it is."""
    stable = {}
    for on in (False, True):
        data = _gaming_region(0.5, 0.0)
        data["defects"]["severity_median"] = 1.0
        data["learning"] = {"report_prob": 1.0, "local_patch_prob": 1.0}
        data["centre"] = {"new_defects_mean": 0.0}
        data["entrenchment"]["enforcement"] = {"enabled": on}
        stable[on] = run_one(make_config(data))[0].summary["t_stable"]
    assert math.isnan(stable[False]) and stable[True] < 120.0


# --------------------------------------------------------------------------- symmetry
#: (name, config overrides): a limit case in which the mechanism must act on any design
LIMITS = {
    "support": {"support": {"enabled": True, "teams": 1, "share": 1.0, "broadcast_share": 0.0}},
    "spillovers": {"spillovers": {"enabled": True, "elasticity": 1.0}},
    "legitimacy": {"legitimacy": {"enabled": True, "halt_threshold": 0.99, "slowing": 2.0}},
    "entrenchment": {"entrenchment": {"enabled": True, "residue_share": 1.0}},
    "enforcement": {"entrenchment": {"enabled": True, "residue_share": 1.0,
                                     "enforcement": {"enabled": True, "lag_months": 0.0}}},
    "track_fit": {"track_fit": {"enabled": True, "tracks": {
        "DRG": {"preparation_low": 3.0, "preparation_high": 3.0},
        "DIP": {"preparation_low": 3.0, "preparation_high": 3.0}}}},
}
#: what each is compared against: the mechanism off (enforcement: entrenchment without it)
BASES = {"enforcement": {"entrenchment": {"enabled": True, "residue_share": 1.0}}}


@pytest.mark.parametrize("mechanism", list(LIMITS))
def test_every_mechanism_can_change_every_design(mechanism):
    """In its limit case each mechanism changes the results of big bang, big bang matched and
    every piloting design (gaming kinds only, severe: suspensions, fixes and residues happen in
    every design in replicate 0)."""
    gaming = {"defects": {"severity_median": 0.5, "kinds": {
        "grouping_error": {"share": 0.0}, "weight_miscalibration": {"share": 0.0}}}}
    on = small_dict(**gaming, **LIMITS[mechanism])
    off = small_dict(**gaming, **BASES.get(mechanism, {}))
    for data in (on, off):
        data["strategies"]["big_bang_matched"] = {}
    cfg_on, cfg_off = make_config(on), make_config(off)
    world = build_world(cfg_on, load_provinces(cfg_on), cfg_on.seed, 0)
    for design in DESIGNS:
        a = Simulation(cfg_on, world, cfg_on.strategies[design]).run(run_strategy)
        b = Simulation(cfg_off, world, cfg_off.strategies[design]).run(run_strategy)
        changed = [name for name in ("coverage", "harm", "benefit")
                   if not np.array_equal(getattr(a, name), getattr(b, name))]
        assert changed, (mechanism, design)


# --------------------------------------------------------------------------- bad values
@pytest.mark.parametrize(("table", "field", "words"), [
    ("[support]\nbroadcast_share = 1.5\n", "support.broadcast_share", "less than or equal to 1"),
    ("[support]\nteams = 0\n", "support.teams", "greater than or equal to 1"),
    ("[entrenchment.enforcement]\nlag_months = -1.0\n", "entrenchment.enforcement.lag_months",
     "greater than or equal to 0"),
    ("[entrenchment.enforcement]\nmonths = 0.0\n", "entrenchment.enforcement.months",
     "greater than 0"),
    ("[entrenchment.enforcement]\nenabled = \"yes\"\n", "entrenchment.enforcement.enabled",
     "boolean"),
    ("[entrenchment.enforcement]\nstrength = 2.0\n", "entrenchment.enforcement.strength",
     "unknown key"),
    ("[strategies.big_bang]\ntrack_choice = \"best\"\n", "strategies.big_bang.track_choice",
     "fit"),
])
def test_rollout_validate_refuses_bad_new_fields(tmp_path, table, field, words):
    """One line on stderr naming the file and the field, exit 2, through the real CLI."""
    import subprocess
    import sys

    path = tmp_path / "bad.toml"
    path.write_text(f'name = "bad"\n{table}')
    proc = subprocess.run([sys.executable, "-m", "rollout.cli", "validate", str(path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"bad.toml: {field}: " in lines[0] and words in lines[0], lines


def test_a_unit_that_begins_and_ends_at_once_teaches_nobody_and_counts_no_less():
    """A unit that begins paying under a gaming defect and leaves it at the same instant (as
    when adoptions held back by a pause all happen at its end) is no longer counted among those
    that began now: a neighbour beginning then has 0 teachers, not -1 (a KeyError before)."""
    cfg = make_config(small_dict(entrenchment={"enabled": True}))
    _, sim = run_one(cfg)
    ent = sim.entrenchment
    ent.began(0, 0, 99, 50.0)
    ent.unbegan(0, 0, 99, 50.0)
    ent.began(0, 0, 99, 50.0)
    assert ent.teachers(0, 0, 99, paying=1, now=50.0) == 0
    ent.began(0, 0, 98, 40.0)                      # began before: a teacher at 50
    ent.began(0, 0, 98, 50.0)
    assert ent.teachers(0, 0, 98, paying=2, now=50.0) == 1


def test_enforcement_frees_a_region_suspended_for_its_residue_at_the_closed_form_time():
    """Beijing, severity 2, all exploitation left as a residue that never decays on its own: the
    region is suspended for entrenched gaming alone and, without enforcement, never resumes.
    Enforcement (lag 12 months, time constant 24) begins at t_e = t_k + 12, after the
    suspension: the residue 2 e_d then decays with tau 24, and the region resumes when its harm
    rate, were it paying, falls to the benefit: t_e + 24 ln(2 e_d)."""
    out = {}
    for on in (False, True):
        data = _gaming_region(1.0, 0.0)
        data["defects"]["severity_median"] = 2.0
        data["defects"]["detectability_median"] = 0.01
        data["learning"] = {"report_prob": 1.0, "local_patch_prob": 1.0}
        data["centre"] = {"new_defects_mean": 0.0}
        data["suspension"] = {"enabled": True, "credibility_cost": 0.0}
        data["strategies"] = {"big_bang": {"wave_shadow_months": 0.0}}
        data["entrenchment"]["enforcement"] = {"enabled": on, "lag_months": 12.0,
                                               "months": 24.0}
        out[on] = run_one(make_config(data), record_events=True)[0]
    off, on = out[False], out[True]
    assert not event_times(off, "resume", unit=0)
    t_p = event_times(on, "pay", unit=0)[0]
    t_d = event_times(on, "patch", unit=0)[0]
    t_k = event_times(on, "report")[0]
    t_sus = event_times(on, "suspend", unit=0)[0]
    t_e = t_k + 12.0
    assert t_sus < t_e
    e_d = -math.expm1(-(t_d - t_p) / 9.0)
    assert 2.0 * e_d > 1.0
    assert event_times(on, "resume", unit=0) == pytest.approx([t_e + 24.0 * math.log(2.0 * e_d)],
                                                              rel=REL)


def test_national_trust_slows_work_in_progress_without_a_pause():
    """No pause (threshold 0): unit 0's failure at t_s leaves a national deficit D that decays;
    unit 1 (30 months of work from 0) does t_s of it at full pace and the rest at the pace
    1 / (1 + slowing D(t)), so the integral of the pace from t_s to its ready time is 30 - t_s
    (quadrature)."""
    drop, half_life, slowing = 0.6, 12.0, 1.5
    cfg = make_config(_failure_config(national_drop=drop, province_drop=0.0,
                                      recovery_months=half_life, halt_threshold=0.0,
                                      slowing=slowing))

    def controller(sim):
        sim.start_unit(0, 0, 0.0, 0.0)
        sim.start_unit(1, 0, 0.0, 0.0)
        yield sim.env.timeout(0.0)

    result, sim = run_with_work(cfg, controller, {1: 30.0})
    assert sim.legitimacy.halts == 0
    t_s = event_times(result, "suspend", unit=0)[0]
    ready = event_times(result, "ready", unit=1)[0]
    done, _ = quad(lambda t: 1.0 / (1.0 + slowing * drop * 2.0 ** (-(t - t_s) / half_life)),
                   t_s, ready, epsabs=1e-13, epsrel=1e-12)
    assert done == pytest.approx(30.0 - t_s, rel=1e-8)
    assert ready > 30.0


def test_a_failure_during_a_pause_does_not_lengthen_it():
    """Two regions fail 0.5 month apart (their work differs by 0.5 month): the pause begins at
    the first failure and ends max(halt, recovery) after it, not after the second."""
    drop, half_life, halt = 0.6, 12.0, 9.0
    cfg = make_config(_failure_config(national_drop=drop, province_drop=0.0,
                                      recovery_months=half_life, halt_threshold=0.5,
                                      halt_months=halt, slowing=0.0))

    def controller(sim):
        sim.start_unit(0, 0, 0.0, 0.0)
        sim.start_unit(1, 0, 0.0, 0.0)
        yield sim.env.timeout(0.0)

    result, sim = run_with_work(cfg, controller, {0: 1.0, 1: 1.5})
    first, second = sorted(event_times(result, "suspend"))
    assert second - first == pytest.approx(0.5, rel=REL)
    end = first + max(halt, half_life * math.log2(drop / 0.5))
    halt_log = sim.legitimacy.halt_log
    assert [flag for _, _, flag in halt_log[:2]] == [1, 0]
    assert [t for t, _, _ in halt_log[:2]] == pytest.approx([first, end], rel=REL)


def test_nobody_enters_operation_or_begins_paying_during_a_pause():
    """Held wave regions released during a pause, and shadows that end during it, wait for its
    end: no shadow or pay event lies strictly inside a pause (phased, severe defects)."""
    cfg = make_config(small_dict(**SEVERE, legitimacy={
        "enabled": True, "halt_threshold": 0.99, "national_drop": 0.02,
        "recovery_months": 1.0, "halt_months": 12.0}))
    for design in ("phased", "adaptive", "big_bang"):
        result, sim = run_one(cfg, design, record_events=True)
        spans = _halted_spans(sim)
        assert spans, design
        for kind in ("shadow", "pay"):
            for t in event_times(result, kind):
                assert not any(t0 < t < t1 for t0, t1 in spans), (design, kind, t)


@pytest.mark.parametrize("order", ["longest_first", "shortest_first"])
def test_support_order_serves_by_preparation_work(order):
    """One team held for all the work, 11 regions starting at 0 with different work: the first
    started is served at once; then the most (or least) work first; each is ready when its
    predecessor is plus its own work."""
    cfg = make_config(one_province_dict(support={"enabled": True, "teams": 1, "share": 1.0,
                                                 "broadcast_share": 0.0, "order": order}))
    result, sim = run_one(cfg, record_events=True)
    starts = [r[3] for r in result.events if r[1] == 0]
    work = {u: 6.0 * float(sim.world.prep_factor[u]) for u in starts}
    rest = sorted(starts[1:], key=lambda u: (-work[u] if order == "longest_first" else work[u],
                                             starts.index(u)))
    t, expected = 0.0, {}
    for u in [starts[0], *rest]:
        t += work[u]
        expected[u] = t
    for u in starts:
        assert event_times(result, "ready", unit=u)[0] == pytest.approx(expected[u], rel=REL), u
