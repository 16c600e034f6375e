"""The event mechanisms of one run: units moving through states, detection, reporting, local
patches, recalibration releases, adoption, suspension (MODEL.md sections 5 and 6).

Events happen only where state changes. Between events every rate is either constant (benefit,
detection hazards) or a sum of exponentials (harm under learning and unlearning), and each is
integrated exactly. A unit's change always goes: ``_advance`` (integrate the old segment up to
now), mutate, ``_reconfigure`` (set the new rates; schedule the unit's next detection and, when
due, its suspension).

Detection follows the common-random-number construction of section 8: the k-th detection of pair
(d, u) happens when the pair's integrated hazard crosses the sum of its first k unit-exponential
thresholds. Detections that cannot change anything (not the defect's first, no report that could
make it known, no local patch) are skipped over exactly, by summing their thresholds; with the
event log on, every detection is simulated instead, and the results are the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import simpy
from scipy import stats

from ..calendar import months_between
from ..config import RolloutConfig, StrategyConfig
from .exploitation import positive_intervals, rate_integral
from .tracks import NEVER, Pair, TrackState, distinct_taus
from .world import N_CONTEXTS, World

# Unit states.
NOT_STARTED, PREPARING, SHADOW, PAYING, SUSPENDED = range(5)
UNIT_STATES = ("not_started", "preparing", "shadow", "paying", "suspended")

# Province stages (reported) and phases (set by the strategy).
STAGES = ("waiting", "pilot", "evaluation", "recalibration", "scale_up", "complete", "suspended")
WAITING, PILOT, EVALUATION, RECALIBRATION, SCALE_UP, COMPLETE, SUSPENDED_STAGE = range(7)

# Event log kinds.
EVENT_KINDS = ("start", "ready", "shadow", "pay", "detect", "report", "patch", "release",
               "adopt", "suspend", "resume", "phase")

# SimPy priorities: state changes first, then sampling, then the end of the run.
_NORMAL, _SAMPLE, _END = 1, 2, 3


def _fire(call: _Call) -> None:
    call.fn(*call.args)


_FIRE = [_fire]


class _Call:
    """A scheduled call: all SimPy's ``Environment.step`` needs of an event is ``callbacks``
    and ``_ok``. Cheaper than an Event plus a closure, on the hottest path of the model."""

    __slots__ = ("callbacks", "fn", "args")
    _ok = True

    def __init__(self, fn: Callable, args: tuple):
        self.callbacks = _FIRE
        self.fn = fn
        self.args = args


@dataclass
class RunResult:
    """Everything one (strategy, replicate) run reports."""

    stage: np.ndarray            # (G, P) int8
    coverage: np.ndarray         # (G, P)
    harm: np.ndarray             # (G, P) cumulative
    benefit: np.ndarray          # (G, P) cumulative
    defects_active: np.ndarray   # (G, P) int16
    version: np.ndarray          # (G, T) int16
    known_defects: np.ndarray    # (G, T) int16, defects known to the centre so far
    fixed_defects: np.ndarray    # (G, T) int16, defects fixed by a release so far
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
        self.taus = distinct_taus(config)
        self._taus_np = np.array(self.taus)
        n_tau = len(self.taus)

        n = world.n_units
        self.n = n
        self.n_prov = len(world.provinces)
        self.weight = world.weight.tolist()
        self.capacity = world.capacity.tolist()
        self.context = world.context.tolist()
        self.unit_prov = world.unit_province.tolist()
        self.state = [NOT_STARTED] * n
        self.track = [-1] * n
        self.version = [0] * n
        self.t_last = [0.0] * n
        self.mult = [0.0] * n            # capacity x state factor x stage factor
        self.pairs: list[list[Pair]] = [[] for _ in range(n)]
        self.exposed = [False] * n       # has a pair in force or decaying
        self.harm_a = [0.0] * n
        self.harm_b = [[0.0] * n_tau for _ in range(n)]
        self.harm_cum = [0.0] * n
        self.harm_disc = [0.0] * n
        self.det_token = [0] * n
        self.susp_token = [0] * n
        self.over_since = [math.nan] * n
        self.pos_intervals: dict[int, list[tuple[float, float]]] = {}
        self.suspended_version = [0] * n
        self.shadow_months = [0.0] * n
        self.shadow_from = [0.0] * n
        self.first_paid = [math.nan] * n
        self.first_operating = [math.nan] * n    # first shadow or payment (calibration)
        self.is_pilot = [False] * n
        # numpy mirrors of the harm state, for vectorised sampling
        self._np_a = np.zeros(n)
        self._np_b = np.zeros((n, n_tau))
        self._np_cum = np.zeros(n)
        self._np_t = np.zeros(n)

        self.tracks = [TrackState(i, name, world, self.taus)
                       for i, name in enumerate(config.tracks)]
        pinned = strategy.pinned_releases or {}
        for ts in self.tracks:
            ts.pinned = ts.name in pinned
        self.track_units: list[list[int]] = [[] for _ in self.tracks]
        # evidence exposure: integral of the sum of mult per (track, context)
        self._x = [[0.0] * N_CONTEXTS for _ in self.tracks]
        self._m = [[0.0] * N_CONTEXTS for _ in self.tracks]
        self._x_t = 0.0

        # Provinces.
        self._unit_prov_np = world.unit_province
        counts = np.bincount(world.unit_province, minlength=self.n_prov)
        self.prov_units = counts.tolist()
        self.prov_first = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
        self.prov_weight = np.bincount(world.unit_province, world.weight, minlength=self.n_prov)
        self.phase = [WAITING] * self.n_prov
        self.stage_factor = [1.0] * self.n_prov
        self.credibility = [1.0] * self.n_prov
        self.n_paying = [0] * self.n_prov
        self.n_suspended = [0] * self.n_prov
        self.pay_weight = [0.0] * self.n_prov
        self.benefit_cum = [0.0] * self.n_prov
        self.benefit_t = [0.0] * self.n_prov
        # paying units per (track, defect) in force, and distinct defects in force, per province
        self.inforce_count: list[dict[tuple[int, int], int]] = [{} for _ in range(self.n_prov)]
        self.defects_active = [0] * self.n_prov

        # National bookkeeping (exact times).
        self.national_weight = 0.0
        self.benefit_disc = 0.0
        self._disc_t = 0.0
        self.t_full = math.nan
        self.t_cov_rise = math.nan   # last time coverage rose to the threshold (nan if below)
        self.suspensions = 0
        self.n_pilots_paying = 0

        op, learning = config.operation, config.learning
        self.state_factor = [0.0, 0.0, op.shadow_detection_factor, 1.0,
                             op.shadow_detection_factor]
        self.benefit_rate = op.benefit_rate
        # the largest detection multiplier per unit capacity: any state, any phase
        self.max_factor = max(1.0, op.shadow_detection_factor) \
            * max(1.0, learning.evaluation_detection_factor)
        self.p_report = learning.report_prob
        self.p_local = learning.local_patch_prob
        self.report_delay = learning.report_delay_mean
        self.discount = config.outcomes.discount_rate / 12.0   # per month, continuous
        self.suspend_on = config.suspension.enabled
        # a paying unit is suspended once its harm rate exceeds this for the sustain time
        self.suspend_limit = (op.benefit_rate * (1.0 + config.suspension.tolerance)
                              * world.weight).tolist()
        self.threshold = config.outcomes.coverage_threshold - 1e-12  # rounding of 'all paying'
        self._waiter: simpy.Event | None = None
        self.sample_times = np.arange(config.time.step_months, config.time.horizon_months + 1,
                                      config.time.step_months, dtype=float)

    # ---------------------------------------------------------------- scheduling helpers
    def at(self, delay: float, fn: Callable, *args, priority: int = _NORMAL) -> None:
        """Call ``fn(*args)`` after ``delay`` months (dropped if beyond the horizon)."""
        if self.env.now + delay > self.horizon:
            return
        self.env.schedule(_Call(fn, args), priority, delay)
        self.n_scheduled += 1

    def log(self, kind: str, unit: int = -1, track: int = -1, defect: int = -1,
            version: int = -1, province: int = -1) -> None:
        """Append a row to the run's event log (only when recording)."""
        if self.record_events:
            if unit >= 0:
                province = self.unit_prov[unit]
            self.events.append((self.env.now, EVENT_KINDS.index(kind), province, unit, track,
                                defect, version))

    def wait_change(self) -> simpy.Event:
        """An event that fires at the next release, report, pilot payment or pilot adoption."""
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
        t0 = self.t_last[u]
        dt = now - t0
        if dt <= 0.0:
            return
        self.t_last[u] = now
        if not self.exposed[u]:
            return
        keep = [math.exp(-dt / tau) for tau in self.taus]
        for pr in self.pairs[u]:
            if pr.rate:
                pr.lam += pr.rate * dt
            if pr.mode == 1:
                if pr.tau_learn > 0.0:
                    pr.e = 1.0 - (1.0 - pr.e) * keep[pr.j_learn]
            elif pr.mode == 2:
                pr.e *= keep[pr.j_unlearn]
        a, b = self.harm_a[u], self.harm_b[u]
        if a or any(b):
            self.harm_cum[u] += rate_integral(a, b, self.taus, dt)
            self._np_cum[u] = self.harm_cum[u]
            if self.discount > 0.0:
                self.harm_disc[u] += rate_integral(a, b, self.taus, dt, t0, self.discount)
            for j in range(1, len(b)):
                b[j] *= keep[j]
            self._np_b[u] = b
            self._np_t[u] = now

    def _reconfigure(self, u: int) -> None:
        """Set unit u's rates for the new segment; schedule its detection and suspension."""
        st = self.state[u]
        active = st >= SHADOW
        p = self.unit_prov[u]
        t = self.track[u]
        mult = self.capacity[u] * self.state_factor[st] * self.stage_factor[p] if active else 0.0
        if mult != self.mult[u]:
            self._exposure_change(t, self.context[u], mult - self.mult[u])
            self.mult[u] = mult
        self.det_token[u] += 1
        if t < 0:
            return
        ts = self.tracks[t]
        fixed = ts.fixed
        v = self.version[u]
        paying = st == PAYING
        w = self.weight[u]
        a = 0.0
        b = [0.0] * len(self.taus)
        exposed = False
        counts = self.inforce_count[p]
        pairs = self.pairs[u]
        dead = 0
        elapsed = self.env.now - self.t_last[u]
        best_wait, best_pair = math.inf, None
        for pr in pairs:
            inforce = active and pr.introduced <= v < fixed[pr.d] and not pr.patched
            if inforce and paying:
                sw = pr.s * w
                a += sw
                if pr.tau_learn > 0.0:
                    b[pr.j_learn] -= sw * (1.0 - pr.e)
                else:
                    pr.e = 1.0
                pr.mode = 1
            elif pr.e > 0.0 and pr.tau_unlearn > 0.0:
                if paying:
                    b[pr.j_unlearn] += pr.s * w * pr.e
                pr.mode = 2
            else:
                pr.e = 0.0
                pr.mode = 0
                if fixed[pr.d] <= v and not pr.paying_inforce:
                    dead += 1   # fixed in this unit's version, nothing left: never matters again
            if inforce and mult > 0.0:
                pr.rate = rate = pr.h * mult
                wait = (pr.thr - pr.lam) / rate - elapsed
                if wait < best_wait:
                    best_wait, best_pair = wait, pr
            else:
                pr.rate = 0.0
            exposed = exposed or inforce or pr.mode == 2
            flag = inforce and paying
            if flag != pr.paying_inforce:
                pr.paying_inforce = flag
                key = (t, pr.d)
                now_count = counts.get(key, 0) + (1 if flag else -1)
                counts[key] = now_count
                if now_count == (1 if flag else 0):
                    self.defects_active[p] += 1 if flag else -1
        b[0] = 0.0
        if dead:
            self.pairs[u] = [pr for pr in pairs
                             if pr.mode or pr.paying_inforce or fixed[pr.d] > v]
        self.exposed[u] = exposed
        self.harm_a[u] = a
        self.harm_b[u] = b
        self._np_a[u] = a
        self._np_b[u] = b
        self._np_t[u] = self.t_last[u]
        if best_pair is not None:
            self.at(max(0.0, best_wait), self._detect, u, best_pair, self.det_token[u])
        if paying and self.suspend_on and \
                a + sum(x for x in b if x > 0.0) > self.suspend_limit[u]:
            self._schedule_suspension(u)
        elif u in self.pos_intervals or not math.isnan(self.over_since[u]):
            # the harm rate cannot reach the limit in this segment: no suspension clock runs
            self.susp_token[u] += 1
            self.pos_intervals.pop(u, None)
            self.over_since[u] = math.nan

    def _exposure_change(self, t: int, c: int, delta: float) -> None:
        now = self.env.now
        if now > self._x_t:
            dt = now - self._x_t
            for x_row, m_row in zip(self._x, self._m, strict=True):
                for i, m in enumerate(m_row):
                    if m:
                        x_row[i] += m * dt
            self._x_t = now
        if t >= 0:
            self._m[t][c] += delta

    def exposure_by_context(self, track: int) -> np.ndarray:
        """Detection-weighted months of operation on a track, per context, up to now."""
        dt = self.env.now - self._x_t
        return np.array([x + m * dt for x, m in zip(self._x[track], self._m[track], strict=True)])

    def _schedule_detection(self, u: int) -> None:
        """Schedule unit u's next relevant detection (the earliest over its pairs)."""
        if not self.exposed[u] or self.mult[u] <= 0.0:
            return
        elapsed = self.env.now - self.t_last[u]
        best, best_pair = math.inf, None
        for pr in self.pairs[u]:
            if pr.rate > 0.0:
                wait = (pr.thr - pr.lam) / pr.rate - elapsed
                if wait < best:
                    best, best_pair = wait, pr
        if best_pair is not None:
            self.at(max(0.0, best), self._detect, u, best_pair, self.det_token[u])

    def _skip_irrelevant(self, u: int, pr: Pair) -> None:
        """Move a pair's next detection past those that cannot change anything (exactly)."""
        if self.record_events:
            return
        ts = self.tracks[self.track[u]]
        d = pr.d
        if ts.first_detected[d] == math.inf:
            return
        known = ts.known_at[d] < math.inf
        if self.p_local == 0.0 and (known or self.p_report == 0.0):
            pr.thr = math.inf        # no later detection of this pair can ever matter
            return
        # Beyond the largest integrated hazard the pair can reach by the horizon nothing more
        # happens, so stop there: this bounds the loop however small the probabilities are.
        reach = pr.lam + pr.h * self.capacity[u] * self.max_factor \
            * (self.horizon - self.t_last[u])
        while pr.thr <= reach:
            _, u_report, _, u_patch = ts.detection(pr, u, pr.k)
            if u_patch < self.p_local or (u_report < self.p_report and not known):
                return
            pr.k += 1
            pr.thr += ts.detection(pr, u, pr.k)[0]

    # ---------------------------------------------------------------- suspension
    def _schedule_suspension(self, u: int) -> None:
        """When will unit u's harm rate have exceeded its benefit rate for the sustain time?"""
        self.susp_token[u] += 1
        now = self.env.now
        prev = self.pos_intervals.pop(u, None)
        carried = math.nan
        if prev:  # was the harm rate above benefit right up to now, and since when?
            for i, (lo, hi) in enumerate(prev):
                if lo <= now <= hi:
                    carried = self.over_since[u] if i == 0 else lo
                    break
        sus = self.config.suspension
        spans = positive_intervals(self.harm_a[u] - self.suspend_limit[u], self.harm_b[u],
                                   self.taus, self.horizon - now)
        if not spans:
            self.over_since[u] = math.nan
            return
        spans = [(now + lo, now + hi) for lo, hi in spans]
        first = carried if spans[0][0] == now and not math.isnan(carried) else spans[0][0]
        self.over_since[u] = first
        self.pos_intervals[u] = spans
        for i, (lo, hi) in enumerate(spans):
            begin = first if i == 0 else lo
            if hi - begin >= sus.sustain_months:
                self.at(begin + sus.sustain_months - now, self._suspend, u, self.susp_token[u])
                return

    def _suspend(self, u: int, token: int) -> None:
        if token != self.susp_token[u] or self.state[u] != PAYING:
            return
        self._advance(u)
        self._set_state(u, SUSPENDED)
        self.suspended_version[u] = self.version[u]
        p = self.unit_prov[u]
        self.credibility[p] += self.config.suspension.credibility_cost
        self.suspensions += 1
        ts = self.tracks[self.track[u]]
        if self.version[u] >= ts.version:
            ts.suspended_waiting += 1
        self.log("suspend", u, self.track[u], version=self.version[u])
        self._reconfigure(u)
        self._centre_consider(ts.index)

    # ---------------------------------------------------------------- states and benefit
    def _set_state(self, u: int, new: int) -> None:
        old = self.state[u]
        p = self.unit_prov[u]
        if old == PAYING or new == PAYING:
            now = self.env.now
            w = self.weight[u] if new == PAYING else -self.weight[u]
            self.benefit_cum[p] += self.benefit_rate * self.pay_weight[p] \
                * (now - self.benefit_t[p])
            self.benefit_t[p] = now
            self.pay_weight[p] += w
            self.n_paying[p] += 1 if new == PAYING else -1
            self._national_change(w)
        if old == SUSPENDED:
            self.n_suspended[p] -= 1
        if new == SUSPENDED:
            self.n_suspended[p] += 1
        self.state[u] = new

    def _national_change(self, delta: float) -> None:
        now = self.env.now
        if self.discount > 0.0 and now > self._disc_t:
            r = self.discount
            self.benefit_disc += self.benefit_rate * self.national_weight \
                * math.exp(-r * self._disc_t) * -math.expm1(-r * (now - self._disc_t)) / r
            self._disc_t = now
        before = self.national_weight >= self.threshold
        self.national_weight += delta
        after = self.national_weight >= self.threshold
        if after and not before:
            self.t_cov_rise = now
            if math.isnan(self.t_full):
                self.t_full = now
        elif before and not after:
            self.t_cov_rise = math.nan

    # ---------------------------------------------------------------- unit life cycle
    def start_unit(self, u: int, track: int, shadow_months: float, shadow_from: float,
                   pilot: bool = False) -> None:
        """Start unit u preparing to run ``track``; it shadows, then pays (section 5)."""
        if self.state[u] != NOT_STARTED:
            return
        ts = self.tracks[track]
        self.track[u] = track
        self.track_units[track].append(u)
        c = self.context[u]
        self.pairs[u] = [ts.new_pair(d, u) for d in range(ts.n)
                         if ts.fixed[d] > ts.version and ts.manifests(d, c)]
        for pr in self.pairs[u]:
            self._skip_irrelevant(u, pr)
        self.shadow_months[u] = shadow_months
        self.shadow_from[u] = shadow_from
        self.is_pilot[u] = pilot
        self.t_last[u] = self.env.now
        self._np_t[u] = self.env.now
        self.state[u] = PREPARING
        prep = self.config.preparation
        mean = prep.mean_months * self.credibility[self.unit_prov[u]] \
            / self.capacity[u] ** prep.capacity_exponent
        self.log("start", u, track)
        self.at(mean * float(self.world.prep_factor[u]), self._ready, u)

    def _ready(self, u: int) -> None:
        self.log("ready", u, self.track[u])
        wait = self.shadow_from[u] - self.env.now
        if wait > 0.0:
            self.at(wait, self._begin_operation, u)
        else:
            self._begin_operation(u)

    def _begin_operation(self, u: int) -> None:
        self._advance(u)
        if math.isnan(self.first_operating[u]):
            self.first_operating[u] = self.env.now
        self.version[u] = self.tracks[self.track[u]].version
        if self.shadow_months[u] > 0.0:
            self._set_state(u, SHADOW)
            self.log("shadow", u, self.track[u], version=self.version[u])
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
            if self.is_pilot[u]:
                self.n_pilots_paying += 1
                self._notify()
        self.log("pay", u, self.track[u], version=self.version[u])
        self._reconfigure(u)

    # ---------------------------------------------------------------- detection & learning
    def _detect(self, u: int, pr: Pair, token: int) -> None:
        if token != self.det_token[u]:
            return
        ts = self.tracks[self.track[u]]
        d = pr.d
        _, u_report, delay, u_patch = ts.detection(pr, u, pr.k)
        pr.k += 1
        pr.thr += ts.detection(pr, u, pr.k)[0]
        now = self.env.now
        if now < ts.first_detected[d]:
            ts.first_detected[d] = now
        self.log("detect", u, ts.index, d, self.version[u])
        if u_report < self.p_report and ts.known_at[d] == math.inf:
            arrival = now + self.report_delay * delay
            if arrival < ts.pending_report[d]:
                ts.pending_report[d] = arrival
                self.at(arrival - now, self._report, ts.index, d)
        if u_patch < self.p_local:
            self._advance(u)
            pr.patched = True
            self.log("patch", u, ts.index, d, self.version[u])
            self._reconfigure(u)
        else:
            self._skip_irrelevant(u, pr)
            self.det_token[u] += 1
            self._schedule_detection(u)

    def _report(self, t: int, d: int) -> None:
        ts = self.tracks[t]
        if ts.known_at[d] < math.inf or self.env.now < ts.pending_report[d]:
            return
        ts.known_at[d] = self.env.now
        self.log("report", -1, t, d)
        self._centre_consider(t)
        self._notify()

    # ---------------------------------------------------------------- the centre
    def _centre_consider(self, t: int) -> None:
        """Start work on the next version (on demand) if known, uncorrected defects wait, or if
        regions are suspended under the latest version and so wait for a newer one."""
        ts = self.tracks[t]
        if ts.working or ts.pinned or not (ts.suspended_waiting or ts.known_uncorrected()):
            return
        c = self.config.centre
        u_time, _ = self.world.release_luck(t, len(ts.release_times))
        work = c.recalibration_mean_months / c.capacity \
            * stats.gamma.ppf(u_time, a=c.recalibration_shape) / c.recalibration_shape
        now = self.env.now
        when = max(now + work, ts.release_times[-1] + c.min_release_spacing)
        ts.working = True
        self.at(when - now, self._release, t, now)

    def schedule_pinned_releases(self) -> None:
        """Releases pinned to calendar dates; the work on each began one mean recalibration time
        before its date, and it fixes what was known then."""
        c = self.config.centre
        lead = c.recalibration_mean_months / c.capacity
        for name, dates in (self.strategy.pinned_releases or {}).items():
            t = self.config.tracks.index(name)
            for date in sorted(dates):
                when = months_between(self.config.time.start, date)
                if when > 0.0:
                    self.at(when, self._release, t, max(0.0, when - lead))

    def _release(self, t: int, work_start: float) -> None:
        ts = self.tracks[t]
        release = len(ts.release_times)          # 1 for the release that makes version 2
        new_version = ts.version + 1
        q = self.config.centre.fix_prob
        for d in ts.known_uncorrected():
            luck = ts.traits[d].fix_uniforms
            if ts.known_at[d] <= work_start and luck[(release - 1) % len(luck)] < q:
                ts.fixed[d] = new_version
        units = [u for u in self.track_units[t] if self.state[u] != NOT_STARTED]
        for traits in self.world.new_defects(t, release):
            d = ts.add_defect(traits, new_version)
            for u in units:
                if traits.contexts[self.context[u]]:   # not in force before adoption
                    pr = ts.new_pair(d, u)
                    self.pairs[u].append(pr)
                    self._skip_irrelevant(u, pr)
        ts.version = new_version
        ts.suspended_waiting = 0      # every suspended unit now has a newer version to adopt
        ts.release_times.append(self.env.now)
        ts.work_starts.append(work_start)
        ts.working = False
        ts.exposure_snapshots.append(self.exposure_by_context(t).copy())
        self.log("release", -1, t, version=new_version)
        delays = self.world.adoption_delay(t, new_version)
        mean = self.config.adoption.mean_delay
        for u in units:
            if self.state[u] >= SHADOW:
                self.at(mean * float(delays[u]), self._adopt, u, new_version)
        self._centre_consider(t)
        self._notify()

    def _adopt(self, u: int, version: int) -> None:
        old = self.version[u]
        if old >= version or self.state[u] < SHADOW:
            return
        self.version[u] = version   # _advance does not depend on the version
        self.log("adopt", u, self.track[u], version=version)
        resume = self.state[u] == SUSPENDED and version > self.suspended_version[u]
        fixed = self.tracks[self.track[u]].fixed
        changed = any(old < pr.introduced <= version or old < fixed[pr.d] <= version
                      for pr in self.pairs[u])
        if changed or resume:   # otherwise no rate changes: only the version number moves
            self._advance(u)
            if resume:
                self._set_state(u, PAYING)
                self.log("resume", u, self.track[u], version=version)
            self._reconfigure(u)
        if self.is_pilot[u]:
            self._notify()

    # ---------------------------------------------------------------- provinces
    def set_phase(self, provinces, phase: int) -> None:
        """Set the strategy phase of provinces; evaluation intensifies detection there."""
        factor = self.config.learning.evaluation_detection_factor if phase == EVALUATION else 1.0
        for p in list(provinces):
            p = int(p)
            if self.phase[p] == phase:
                continue
            self.phase[p] = phase
            self.log("phase", version=phase, province=p)
            if self.stage_factor[p] != factor:
                self.stage_factor[p] = factor
                lo = self.prov_first[p]
                for u in range(lo, lo + self.prov_units[p]):
                    if self.state[u] >= SHADOW:
                        self._advance(u)
                        self._reconfigure(u)

    def stage_codes(self) -> list[int]:
        out = []
        for p in range(self.n_prov):
            if self.n_suspended[p]:
                out.append(SUSPENDED_STAGE)
            elif self.phase[p] == SCALE_UP and self.n_paying[p] == self.prov_units[p]:
                out.append(COMPLETE)
            else:
                out.append(self.phase[p])
        return out

    # ---------------------------------------------------------------- sampling
    def pending_harm(self, at: float) -> tuple[np.ndarray, np.ndarray]:
        """(cumulative harm, harm rate) of every unit at time ``at``, without advancing.
        Units with no harm terms have a = b = 0 and contribute exactly zero."""
        taus = self._taus_np
        x = at - self._np_t
        keep = np.exp(-x[:, None] / taus)
        b = self._np_b
        cum = self._np_cum + self._np_a * x + (b * (taus * (1.0 - keep))).sum(axis=1)
        rate = self._np_a + (b * keep).sum(axis=1)
        return cum, rate

    def _sample(self, i: int) -> None:
        now = self.env.now
        cum, rate = self.pending_harm(now)
        self.out_harm[i] = np.maximum(np.bincount(self._unit_prov_np, cum, self.n_prov), 0.0)
        pay = np.array(self.pay_weight)
        self.out_benefit[i] = np.array(self.benefit_cum) \
            + self.benefit_rate * pay * (now - np.array(self.benefit_t))
        self.out_coverage[i] = np.clip(pay / self.prov_weight, 0.0, 1.0)
        self.out_stage[i] = self.stage_codes()
        self.out_active[i] = self.defects_active
        self.out_version[i] = [ts.version for ts in self.tracks]
        self.out_known[i] = [sum(1 for x in ts.known_at if x < math.inf) for ts in self.tracks]
        self.out_fixed[i] = [sum(1 for x in ts.fixed if x != NEVER) for ts in self.tracks]
        self.harm_rate[i] = rate.sum()
        self.national_benefit_rate[i] = self.benefit_rate * self.national_weight

    # ---------------------------------------------------------------- run
    def run(self, controller: Callable[[Simulation], Generator]) -> RunResult:
        """Run the strategy's controller process to the horizon and collect the results."""
        g, p, t = len(self.sample_times), self.n_prov, len(self.tracks)
        self.out_stage = np.zeros((g, p), np.int8)
        self.out_coverage = np.zeros((g, p))
        self.out_harm = np.zeros((g, p))
        self.out_benefit = np.zeros((g, p))
        self.out_active = np.zeros((g, p), np.int16)
        self.out_version = np.zeros((g, t), np.int16)
        self.out_known = np.zeros((g, t), np.int16)
        self.out_fixed = np.zeros((g, t), np.int16)
        self.harm_rate = np.zeros(g)
        self.national_benefit_rate = np.zeros(g)
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
        for u in range(self.n):
            if self.exposed[u]:
                self._advance(u)
        self._national_change(0.0)
        # The true cumulative harm never decreases; this only removes float rounding.
        self.out_harm = np.maximum.accumulate(self.out_harm, axis=0)
        used = [ts for ts in self.tracks if self.track_units[ts.index]]
        harm_total = float(sum(self.harm_cum))
        benefit_total = float(sum(
            self.benefit_cum[p] + self.benefit_rate * self.pay_weight[p]
            * (self.horizon - self.benefit_t[p]) for p in range(self.n_prov)))
        if self.discount > 0.0:
            net = self.benefit_disc - float(sum(self.harm_disc))
        else:
            net = benefit_total - harm_total
        summary = {
            "t_full": self.t_full,
            "t_stable": self._t_stable(),
            "harm_total": harm_total,
            "benefit_total": benefit_total,
            "net_benefit": net,
            "suspensions": float(self.suspensions),
            "defects_detected": float(sum(1 for ts in used for x in ts.first_detected
                                          if x < math.inf)),
            "defects_fixed": float(sum(1 for ts in used for x in ts.fixed if x != NEVER)),
            "defects_remaining": float(sum(1 for ts in used for x in ts.fixed if x == NEVER)),
            "releases": float(sum(len(ts.release_times) - 1 for ts in used)),
        }
        return RunResult(stage=self.out_stage, coverage=self.out_coverage, harm=self.out_harm,
                         benefit=self.out_benefit, defects_active=self.out_active,
                         version=self.out_version, known_defects=self.out_known,
                         fixed_defects=self.out_fixed, summary=summary, events=self.events,
                         n_events=self.n_scheduled)

    def _t_stable(self) -> float:
        """First time from which coverage stays >= threshold (exact) and the national harm rate
        stays at or below the stable share of the benefit rate (checked on the sampling grid)."""
        if math.isnan(self.t_cov_rise):
            return math.nan
        share = self.config.outcomes.stable_harm_share
        # before anyone pays, harm and benefit rates are both 0: that meets the condition (it
        # used to count as failing it, which pushed t_stable to the next grid time)
        ok = self.harm_rate <= share * self.national_benefit_rate
        if not ok[-1] or self.national_benefit_rate[-1] <= 0.0:
            return math.nan
        bad = np.flatnonzero(~ok)
        t_harm = float(self.sample_times[bad[-1] + 1]) if bad.size else 0.0
        return max(self.t_cov_rise, t_harm)
