"""The event mechanisms of one run: units moving through states, detection, reporting, local
patches, recalibration releases, adoption, suspension (MODEL.md sections 5 and 6).

Events happen only where state changes. Between events every rate is either constant (benefit,
detection hazards) or a sum of exponentials (harm under learning and unlearning), and each is
integrated exactly. A unit's state changes always go through ``_advance`` (integrate the old
segment up to now), a mutation, then ``_reconfigure`` (set the new rates and schedule the unit's
next detection and, if due, its suspension).

Detection uses the common-random-number construction of section 8: the k-th detection of pair
(d, u) happens when the pair's integrated hazard crosses the sum of its first k unit-exponential
thresholds, so the same luck meets a unit whenever a strategy exposes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy
from scipy import stats

from ..calendar import months_between
from ..config import RolloutConfig, StrategyConfig
from .exploitation import advance_exploitation, positive_intervals, rate_integral
from .tracks import NEVER, TrackState, distinct_taus
from .world import N_CONTEXTS, World

# Unit states.
NOT_STARTED, PREPARING, SHADOW, PAYING, SUSPENDED = range(5)
UNIT_STATES = ("not_started", "preparing", "shadow", "paying", "suspended")
ACTIVE = (SHADOW, PAYING, SUSPENDED)

# Province stages (reported) and phases (set by the strategy).
STAGES = ("waiting", "pilot", "evaluation", "recalibration", "scale_up", "complete", "suspended")
WAITING, PILOT, EVALUATION, RECALIBRATION, SCALE_UP, COMPLETE, SUSPENDED_STAGE = range(7)

# Event log kinds.
EVENT_KINDS = ("start", "ready", "shadow", "pay", "detect", "report", "patch", "release",
               "adopt", "suspend", "resume", "phase")

# SimPy priorities: state changes first, then sampling, then the end of the run.
_NORMAL, _SAMPLE, _END = 1, 2, 3


@dataclass
class RunResult:
    """Everything one (strategy, replicate) run reports."""

    stage: np.ndarray            # (G, P) int8
    coverage: np.ndarray         # (G, P)
    harm: np.ndarray             # (G, P) cumulative
    benefit: np.ndarray          # (G, P) cumulative
    defects_active: np.ndarray   # (G, P) int16
    version: np.ndarray          # (G, T) int16
    summary: dict[str, float]
    events: list[tuple] = field(default_factory=list)
    n_events: int = 0


class Simulation:
    """One strategy in one replicate's world."""

    def __init__(self, config: RolloutConfig, world: World, strategy: StrategyConfig,
                 record_events: bool = False):
        self.config = config
        self.world = world
        self.strategy = strategy
        self.env = simpy.Environment()
        self.horizon = float(config.time.horizon_months)
        self.record_events = record_events
        self.events: list[tuple] = []
        self.n_scheduled = 0

        n = world.n_units
        self.n = n
        self.n_prov = len(world.provinces)
        self.state = np.zeros(n, np.int8)
        self.track = np.full(n, -1, np.int8)
        self.version = np.zeros(n, np.int32)
        self.t_last = np.zeros(n)
        self.mult = np.zeros(n)             # capacity x state factor x stage factor
        self.exposure = np.zeros(n)         # integral of mult (the centre's evidence)
        self.exposed = np.zeros(n, bool)    # has pairs in force or decaying
        self.harm_a = np.zeros(n)
        self.taus = distinct_taus(config)
        self.harm_b = np.zeros((n, len(self.taus)))
        self.harm_cum = np.zeros(n)
        self.harm_disc = np.zeros(n)
        self.det_token = np.zeros(n, np.int64)
        self.susp_token = np.zeros(n, np.int64)
        self.over_since = np.full(n, np.nan)
        self.suspended_version = np.zeros(n, np.int32)
        self.shadow_months = np.zeros(n)
        self.shadow_from = np.zeros(n)
        self.first_paid = np.full(n, np.nan)
        self.pos_intervals: dict[int, list[tuple[float, float]]] = {}

        self.tracks = [TrackState(i, name, world, self.taus)
                       for i, name in enumerate(config.tracks)]
        pinned = strategy.pinned_releases or {}
        for ts in self.tracks:
            ts.pinned = ts.name in pinned

        # Provinces.
        self.unit_prov = world.unit_province
        self.prov_units = np.bincount(self.unit_prov, minlength=self.n_prov)
        self.prov_weight = np.bincount(self.unit_prov, world.weight, minlength=self.n_prov)
        self.prov_first = np.concatenate([[0], np.cumsum(self.prov_units)[:-1]])
        self.phase = np.zeros(self.n_prov, np.int8)
        self.stage_factor = np.ones(self.n_prov)
        self.credibility = np.ones(self.n_prov)
        self.n_paying = np.zeros(self.n_prov, np.int64)
        self.n_suspended = np.zeros(self.n_prov, np.int64)
        self.pay_weight = np.zeros(self.n_prov)
        self.benefit_cum = np.zeros(self.n_prov)
        self.benefit_disc = 0.0
        self.benefit_t = np.zeros(self.n_prov)

        # National coverage bookkeeping (exact times).
        self.national_weight = 0.0
        self.t_full = math.nan
        self.t_cov_rise = math.nan   # last time coverage rose to the threshold (nan if below)
        self.suspensions = 0
        self.n_pilots_paying = 0
        self.pilot_units = np.zeros(n, bool)

        op = config.operation
        self.state_factor = {SHADOW: op.shadow_detection_factor, PAYING: 1.0,
                             SUSPENDED: op.shadow_detection_factor}
        self.discount = config.outcomes.discount_rate / 12.0   # per month, continuous
        self._waiter: simpy.Event | None = None
        self.sample_times = np.arange(config.time.step_months, config.time.horizon_months + 1,
                                      config.time.step_months, dtype=float)

    # ---------------------------------------------------------------- scheduling helpers
    def at(self, delay: float, fn: Callable, *args, priority: int = _NORMAL) -> None:
        """Call ``fn(*args)`` after ``delay`` months (dropped if beyond the horizon)."""
        if self.env.now + delay > self.horizon:
            return
        event = simpy.Event(self.env)
        event._ok = True
        event._value = None
        event.callbacks.append(lambda _e: fn(*args))
        self.env.schedule(event, priority, delay)
        self.n_scheduled += 1

    def log(self, kind: str, unit: int = -1, track: int = -1, defect: int = -1,
            version: int = -1, province: int = -1) -> None:
        """Append to the run's event log (only when recording): one row per event."""
        if self.record_events:
            if unit >= 0:
                province = int(self.unit_prov[unit])
            self.events.append((self.env.now, EVENT_KINDS.index(kind), province, unit, track,
                                defect, version))

    def wait_change(self) -> simpy.Event:
        """An event that fires at the next release, report or adoption (for strategy gates)."""
        if self._waiter is None:
            self._waiter = simpy.Event(self.env)
        return self._waiter

    def _notify(self) -> None:
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.succeed()

    # ---------------------------------------------------------------- unit segments
    def _advance(self, u: int) -> None:
        """Integrate unit u's current segment from its last update to now."""
        now = self.env.now
        dt = now - self.t_last[u]
        if dt <= 0.0:
            return
        t0 = self.t_last[u]
        self.t_last[u] = now
        mult = self.mult[u]
        if mult > 0.0:
            self.exposure[u] += mult * dt
        if not self.exposed[u]:
            return
        ts = self.tracks[self.track[u]]
        nd = ts.n
        ts.lam[u, :nd] += ts.rate[u, :nd] * dt
        a, b = self.harm_a[u], self.harm_b[u]
        if a != 0.0 or b.any():
            self.harm_cum[u] += rate_integral(a, b, self.taus, dt)
            if self.discount > 0.0:
                self.harm_disc[u] += rate_integral(a, b, self.taus, dt, t0, self.discount)
            b *= np.exp(-dt / self.taus)
        mode = ts.mode[u, :nd]
        advance_exploitation(ts.e[u, :nd], mode == 1, mode == 2, ts.tau_learn[:nd],
                             ts.tau_unlearn[:nd], dt)

    def _reconfigure(self, u: int) -> None:
        """Set unit u's rates for the new segment; schedule its detection and suspension."""
        st = self.state[u]
        t = self.track[u]
        active = st in ACTIVE
        self.mult[u] = (self.world.capacity[u] * self.state_factor[st]
                        * self.stage_factor[self.unit_prov[u]]) if active else 0.0
        self.det_token[u] += 1
        if t < 0:
            return
        ts = self.tracks[t]
        nd = ts.n
        e = ts.e[u, :nd]
        if active:
            inforce = ts.manifest[u, :nd] & ts.holds(self.version[u]) & ~ts.patched[u, :nd]
        else:
            inforce = np.zeros(nd, bool)
        paying = st == PAYING
        learn = inforce & paying if paying else np.zeros(nd, bool)
        e[learn & (ts.tau_learn[:nd] == 0.0)] = 1.0
        decay = ~learn & (e > 0.0)
        e[decay & (ts.tau_unlearn[:nd] == 0.0)] = 0.0
        decay &= e > 0.0
        mode = ts.mode[u, :nd]
        mode[:] = 0
        mode[learn] = 1
        mode[decay] = 2
        ts.inforce[u, :nd] = inforce
        ts.rate[u, :nd] = np.where(inforce, ts.h[:nd] * self.mult[u], 0.0)
        self.exposed[u] = bool(inforce.any() or decay.any())
        b = self.harm_b[u]
        b[:] = 0.0
        a = 0.0
        if paying and self.exposed[u]:
            w = self.world.weight[u]
            sw = ts.s[:nd] * w
            a = float(sw[learn].sum())
            jl = ts.j_learn[:nd]
            ju = ts.j_unlearn[:nd]
            if learn.any():
                b -= np.bincount(jl[learn], sw[learn] * (1.0 - e[learn]), minlength=len(b))
            if decay.any():
                b += np.bincount(ju[decay], sw[decay] * e[decay], minlength=len(b))
            b[0] = 0.0
        self.harm_a[u] = a
        self._schedule_detection(u)
        if paying and self.config.suspension.enabled:
            self._schedule_suspension(u)
        elif u in self.pos_intervals or not math.isnan(self.over_since[u]):
            self.susp_token[u] += 1
            self.pos_intervals.pop(u, None)
            self.over_since[u] = math.nan

    def _schedule_detection(self, u: int) -> None:
        if not self.exposed[u] or self.mult[u] <= 0.0:
            return
        ts = self.tracks[self.track[u]]
        nd = ts.n
        rate = ts.rate[u, :nd]
        live = np.flatnonzero(rate > 0.0)
        if live.size == 0:
            return
        lam_now = ts.lam[u, live] + rate[live] * (self.env.now - self.t_last[u])
        waits = (ts.thr[u, live] - lam_now) / rate[live]
        i = int(np.argmin(waits))
        self.at(max(0.0, float(waits[i])), self._detect, u, int(live[i]), int(self.det_token[u]))

    # ---------------------------------------------------------------- suspension
    def _harm_threshold(self, u: int) -> float:
        op = self.config.operation
        return op.benefit_rate * self.world.weight[u] * (1.0 + self.config.suspension.tolerance)

    def _schedule_suspension(self, u: int) -> None:
        """Find when unit u's harm rate will have exceeded its benefit rate for the sustain time."""
        self.susp_token[u] += 1
        now = self.env.now
        prev = self.pos_intervals.pop(u, None)
        carried = math.nan
        if prev:  # was the harm rate above benefit right up to now, and since when?
            for lo, hi in prev:
                if lo <= now <= hi:
                    carried = self.over_since[u] if lo == prev[0][0] and not math.isnan(
                        self.over_since[u]) else lo
                    break
        a = self.harm_a[u] - self._harm_threshold(u)
        spans = positive_intervals(a, self.harm_b[u], self.taus, self.horizon - now)
        spans = [(now + lo, now + hi) for lo, hi in spans]
        if not spans:
            self.over_since[u] = math.nan
            return
        if spans[0][0] == now and not math.isnan(carried):
            self.over_since[u] = carried
        else:
            self.over_since[u] = spans[0][0]
        self.pos_intervals[u] = spans
        sustain = self.config.suspension.sustain_months
        for i, (lo, hi) in enumerate(spans):
            begin = self.over_since[u] if i == 0 else lo
            if hi - begin >= sustain:
                self.at(begin + sustain - now, self._suspend, u, int(self.susp_token[u]))
                return

    def _suspend(self, u: int, token: int) -> None:
        if token != self.susp_token[u] or self.state[u] != PAYING:
            return
        self._advance(u)
        self._set_state(u, SUSPENDED)
        self.suspended_version[u] = self.version[u]
        p = self.unit_prov[u]
        self.credibility[p] *= 1.0 + self.config.suspension.credibility_cost
        self.suspensions += 1
        self.pos_intervals.pop(u, None)
        self.over_since[u] = math.nan
        self.log("suspend", u, self.track[u], version=int(self.version[u]))
        self._reconfigure(u)

    # ---------------------------------------------------------------- states and benefit
    def _set_state(self, u: int, new: int) -> None:
        old = self.state[u]
        if old == new:
            return
        p = self.unit_prov[u]
        if PAYING in (old, new):
            now = self.env.now
            w = self.world.weight[u]
            b = self.config.operation.benefit_rate
            dt = now - self.benefit_t[p]
            self.benefit_cum[p] += b * self.pay_weight[p] * dt
            self.benefit_t[p] = now
            sign = 1.0 if new == PAYING else -1.0
            self.pay_weight[p] += sign * w
            self.n_paying[p] += int(sign)
            self._national_change(sign * w)
        if old == SUSPENDED:
            self.n_suspended[p] -= 1
        if new == SUSPENDED:
            self.n_suspended[p] += 1
        self.state[u] = new

    def _national_change(self, delta: float) -> None:
        now = self.env.now
        if self.discount > 0.0:
            b = self.config.operation.benefit_rate
            dt = now - self._disc_t
            self.benefit_disc += b * self.national_weight * math.exp(-self.discount * self._disc_t) \
                * -math.expm1(-self.discount * dt) / self.discount
            self._disc_t = now
        before = self.national_weight >= self._threshold
        self.national_weight += delta
        after = self.national_weight >= self._threshold
        if after and not before:
            self.t_cov_rise = now
            if math.isnan(self.t_full):
                self.t_full = now
        elif before and not after:
            self.t_cov_rise = math.nan

    @property
    def _threshold(self) -> float:
        # A hair of tolerance so that 'all regions paying' counts as coverage 1 despite rounding.
        return self.config.outcomes.coverage_threshold - 1e-12

    # ---------------------------------------------------------------- unit life cycle
    def start_unit(self, u: int, track: int, shadow_months: float, shadow_from: float,
                   pilot: bool = False) -> None:
        """Start unit u preparing to run ``track``; it shadows, then pays (section 5)."""
        if self.state[u] != NOT_STARTED:
            return
        self.track[u] = track
        self.shadow_months[u] = shadow_months
        self.shadow_from[u] = shadow_from
        self.pilot_units[u] = pilot
        self.t_last[u] = self.env.now
        self.state[u] = PREPARING
        prep = self.config.preparation
        p = self.unit_prov[u]
        mean = prep.mean_months * self.credibility[p] \
            / self.world.capacity[u] ** prep.capacity_exponent
        self.log("start", u, track)
        self.at(mean * self.world.prep_factor[u], self._ready, u)

    def _ready(self, u: int) -> None:
        self.log("ready", u, self.track[u])
        wait = self.shadow_from[u] - self.env.now
        if wait > 0.0:
            self.at(wait, self._begin_operation, u)
        else:
            self._begin_operation(u)

    def _begin_operation(self, u: int) -> None:
        self._advance(u)
        self.version[u] = self.tracks[self.track[u]].version
        if self.shadow_months[u] > 0.0:
            self._set_state(u, SHADOW)
            self.log("shadow", u, self.track[u], version=int(self.version[u]))
            self._reconfigure(u)
            self.at(self.shadow_months[u], self._start_paying, u)
        else:
            self._start_paying(u)

    def _start_paying(self, u: int) -> None:
        if self.state[u] not in (PREPARING, SHADOW):
            return
        self._advance(u)
        self._set_state(u, PAYING)
        if math.isnan(self.first_paid[u]):
            self.first_paid[u] = self.env.now
            if self.pilot_units[u]:
                self.n_pilots_paying += 1
                self._notify()
        self.log("pay", u, self.track[u], version=int(self.version[u]))
        self._reconfigure(u)

    # ---------------------------------------------------------------- detection & learning
    def _detect(self, u: int, d: int, token: int) -> None:
        if token != self.det_token[u]:
            return
        self._advance(u)
        ts = self.tracks[self.track[u]]
        k = int(ts.ndet[u, d])
        _, u_report, delay, u_patch = ts.detection_luck(u, d, k)
        ts.ndet[u, d] = k + 1
        ts.thr[u, d] += ts.detection_luck(u, d, k + 1)[0]
        now = self.env.now
        if now < ts.first_detected[d]:
            ts.first_detected[d] = now
        self.log("detect", u, ts.index, d, int(self.version[u]))
        learning = self.config.learning
        if u_report < learning.report_prob and not math.isfinite(ts.known_at[d]):
            arrival = now + learning.report_delay_mean * delay
            if arrival < ts.pending_report[d]:
                ts.pending_report[d] = arrival
                self.at(arrival - now, self._report, ts.index, d)
        if u_patch < learning.local_patch_prob:
            ts.patched[u, d] = True
            self.log("patch", u, ts.index, d, int(self.version[u]))
            self._reconfigure(u)
        else:
            self.det_token[u] += 1
            self._schedule_detection(u)

    def _report(self, t: int, d: int) -> None:
        ts = self.tracks[t]
        if math.isfinite(ts.known_at[d]) or self.env.now < ts.pending_report[d]:
            return
        ts.known_at[d] = self.env.now
        self.log("report", -1, t, d)
        self._centre_consider(t)
        self._notify()

    # ---------------------------------------------------------------- the centre
    def _centre_consider(self, t: int) -> None:
        """Start work on the next version if known, uncorrected defects wait (on demand)."""
        ts = self.tracks[t]
        if ts.working or ts.pinned or ts.known_uncorrected().size == 0:
            return
        c = self.config.centre
        release = len(ts.release_times)
        u_time, _ = self.world.release_luck(t, release)
        work = c.recalibration_mean_months / c.capacity \
            * stats.gamma.ppf(u_time, a=c.recalibration_shape) / c.recalibration_shape
        now = self.env.now
        when = max(now + work, ts.release_times[-1] + c.min_release_spacing)
        ts.working = True
        self.at(when - now, self._release, t, now)

    def schedule_pinned_releases(self) -> None:
        c = self.config.centre
        lead = c.recalibration_mean_months / c.capacity
        for name, dates in (self.strategy.pinned_releases or {}).items():
            t = self.config.tracks.index(name)
            for date in sorted(dates):
                when = months_between(self.config.time.start, date)
                if when <= 0.0:
                    continue
                self.at(when, self._release, t, max(0.0, when - lead))

    def _release(self, t: int, work_start: float) -> None:
        ts = self.tracks[t]
        release = len(ts.release_times)          # 1 for the release that makes version 2
        new_version = ts.version + 1
        q = self.config.centre.fix_prob
        for d in ts.known_uncorrected():
            if ts.known_at[d] <= work_start and ts.traits[d].fix_uniforms[
                    (release - 1) % len(ts.traits[d].fix_uniforms)] < q:
                ts.fixed[d] = new_version
        for traits in self.world.new_defects(t, release):
            ts.add_defect(traits, new_version)
        ts.version = new_version
        ts.release_times.append(self.env.now)
        ts.work_starts.append(work_start)
        ts.working = False
        ts.exposure_snapshots.append(self.exposure_by_context(t))
        self.log("release", -1, t, version=new_version)
        units = np.flatnonzero((self.track == t) & np.isin(self.state, ACTIVE))
        if units.size:
            delays = self.config.adoption.mean_delay * self.world.adoption_delay(t, new_version)
            for u in units.tolist():
                self.at(float(delays[u]), self._adopt, u, new_version)
        self._centre_consider(t)
        self._notify()

    def _adopt(self, u: int, version: int) -> None:
        if self.version[u] >= version or self.state[u] not in ACTIVE:
            return
        self._advance(u)
        self.version[u] = version
        self.log("adopt", u, self.track[u], version=version)
        if self.state[u] == SUSPENDED and version > self.suspended_version[u]:
            self._set_state(u, PAYING)
            self.log("resume", u, self.track[u], version=version)
        self._reconfigure(u)
        if self.pilot_units[u]:
            self._notify()

    def exposure_by_context(self, track: int) -> np.ndarray:
        """Detection-weighted months of operation on a track, per context, up to now."""
        on = self.track == track
        x = self.exposure + self.mult * (self.env.now - self.t_last)
        return np.bincount(self.world.context[on], x[on], minlength=N_CONTEXTS)

    # ---------------------------------------------------------------- provinces
    def set_phase(self, provinces: np.ndarray | list[int], phase: int) -> None:
        """Set the strategy phase of provinces; evaluation intensifies detection there."""
        factor = self.config.learning.evaluation_detection_factor if phase == EVALUATION else 1.0
        for p in np.atleast_1d(provinces).tolist():
            if self.phase[p] == phase:
                continue
            self.phase[p] = phase
            self.log("phase", version=phase, province=p)
            if self.stage_factor[p] != factor:
                self.stage_factor[p] = factor
                lo = self.prov_first[p]
                for u in range(lo, lo + self.prov_units[p]):
                    if self.state[u] in ACTIVE:
                        self._advance(u)
                        self._reconfigure(u)

    def stage_codes(self) -> np.ndarray:
        stage = self.phase.copy()
        stage[(self.phase == SCALE_UP) & (self.n_paying == self.prov_units)] = COMPLETE
        stage[self.n_suspended > 0] = SUSPENDED_STAGE
        return stage

    # ---------------------------------------------------------------- sampling
    def _pending_harm(self, at: float) -> tuple[np.ndarray, np.ndarray]:
        """(cumulative harm, harm rate) of every unit at time ``at`` without advancing."""
        dt = at - self.t_last
        a, b = self.harm_a, self.harm_b
        live = np.flatnonzero((a != 0.0) | b.any(axis=1))
        cum = self.harm_cum.copy()
        rate = np.zeros(self.n)
        if live.size:
            x = dt[live][:, None]
            taus = self.taus[None, :]
            decay = np.exp(-x / taus)
            bl = b[live]
            cum[live] += a[live] * dt[live] + (bl * taus * (1.0 - decay)).sum(axis=1)
            rate[live] = a[live] + (bl * decay).sum(axis=1)
        return cum, rate

    def _defects_active(self) -> np.ndarray:
        counts = np.zeros(self.n_prov, np.int64)
        paying = self.state == PAYING
        if not paying.any():
            return counts
        starts = self.prov_first
        for ts in self.tracks:
            m = ts.inforce[:, :ts.n] & paying[:, None]
            if ts.n and m.any():
                counts += np.logical_or.reduceat(m, starts, axis=0).sum(axis=1)
        return counts

    def _sample(self, i: int) -> None:
        now = self.env.now
        cum, rate = self._pending_harm(now)
        self.out_harm[i] = np.maximum(np.bincount(self.unit_prov, cum, self.n_prov), 0.0)
        b = self.config.operation.benefit_rate
        self.out_benefit[i] = self.benefit_cum + b * self.pay_weight * (now - self.benefit_t)
        self.out_coverage[i] = np.clip(self.pay_weight / self.prov_weight, 0.0, 1.0)
        self.out_stage[i] = self.stage_codes()
        self.out_active[i] = self._defects_active()
        self.out_version[i] = [ts.version for ts in self.tracks]
        self.harm_rate[i] = rate.sum()
        self.benefit_rate[i] = b * self.national_weight

    # ---------------------------------------------------------------- run
    def run(self, controller: Callable[[Simulation], object]) -> RunResult:
        """Run the strategy's controller process to the horizon and collect the results."""
        g, p, t = len(self.sample_times), self.n_prov, len(self.tracks)
        self.out_stage = np.zeros((g, p), np.int8)
        self.out_coverage = np.zeros((g, p))
        self.out_harm = np.zeros((g, p))
        self.out_benefit = np.zeros((g, p))
        self.out_active = np.zeros((g, p), np.int16)
        self.out_version = np.zeros((g, t), np.int16)
        self.harm_rate = np.zeros(g)
        self.benefit_rate = np.zeros(g)
        self._disc_t = 0.0
        for i, when in enumerate(self.sample_times):
            self.at(float(when), self._sample, i, priority=_SAMPLE)
        self.schedule_pinned_releases()
        self.env.process(controller(self))
        end = simpy.Event(self.env)
        end._ok, end._value = True, None
        self.env.schedule(end, _END, self.horizon)
        self.env.run(until=end)
        return self._collect()

    def _collect(self) -> RunResult:
        horizon = self.horizon
        for u in np.flatnonzero(self.exposed | (self.mult > 0)).tolist():
            self._advance(u)
        self._national_change(0.0)
        self.out_harm = np.maximum.accumulate(self.out_harm, axis=0)
        used = [ts for ts in self.tracks if (self.track == ts.index).any()]
        harm_total = float(self.harm_cum.sum())
        b = self.config.operation.benefit_rate
        benefit_total = float((self.benefit_cum + b * self.pay_weight
                               * (horizon - self.benefit_t)).sum())
        if self.discount > 0.0:
            net = self.benefit_disc - float(self.harm_disc.sum())
        else:
            net = benefit_total - harm_total
        summary = {
            "t_full": self.t_full,
            "t_stable": self._t_stable(),
            "harm_total": harm_total,
            "benefit_total": benefit_total,
            "net_benefit": net,
            "suspensions": float(self.suspensions),
            "defects_detected": float(sum(np.isfinite(ts.first_detected[:ts.n]).sum()
                                          for ts in used)),
            "defects_fixed": float(sum((ts.fixed[:ts.n] != NEVER).sum() for ts in used)),
            "defects_remaining": float(sum((ts.fixed[:ts.n] == NEVER).sum() for ts in used)),
            "releases": float(sum(len(ts.release_times) - 1 for ts in used)),
        }
        return RunResult(stage=self.out_stage, coverage=self.out_coverage, harm=self.out_harm,
                         benefit=self.out_benefit, defects_active=self.out_active,
                         version=self.out_version, summary=summary, events=self.events,
                         n_events=self.n_scheduled)

    def _t_stable(self) -> float:
        """First time from which coverage stays >= threshold (exact) and the national harm rate
        stays below the stable share of the benefit rate (checked on the sampling grid)."""
        if math.isnan(self.t_cov_rise):
            return math.nan
        share = self.config.outcomes.stable_harm_share
        ok = (self.benefit_rate > 0.0) & (self.harm_rate <= share * self.benefit_rate)
        if not ok[-1]:
            return math.nan
        bad = np.flatnonzero(~ok)
        t_harm = float(self.sample_times[bad[-1] + 1]) if bad.size else 0.0
        return max(self.t_cov_rise, t_harm)
