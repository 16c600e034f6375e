"""The centre: reports, recalibration and releases of new versions (MODEL.md section 6).

A detected defect is known to the centre when its first report arrives. With release on demand,
the centre starts work on a new version of a track whenever known, uncorrected defects wait. The
work takes a gamma time of mean ``recalibration_mean_months / capacity`` and ends no sooner than
``min_release_spacing`` after the last release. It fixes each defect that was known when it began
with probability ``fix_prob``; if it fixes none, no version is cut and the centre works again
(each work period draws its own luck). A release may introduce new defects (Poisson, mean
``new_defects_mean``). A strategy may pin a track's releases to calendar dates instead
(``release_policy`` "pinned"; work begins one mean recalibration time before; a pinned release is
cut whatever it fixes), or pin them and release on demand after the last date
("pinned_then_on_demand"). After a release every operating unit adopts it (adoption.py).
"""

from __future__ import annotations

import math

from ..calendar import months_between
from .defects import FIX_ATTEMPTS
from .quantiles import gamma_quantile
from .states import NOT_STARTED
from .tracks import TrackState


class Centre:
    """The tracks' versions and defects as the centre knows and corrects them."""

    def __init__(self, sim):
        self.clock = sim.clock
        self.config = sim.config
        self.world = sim.world
        self.tracks = [TrackState(i, name, sim.world, sim.taus)
                       for i, name in enumerate(sim.config.tracks)]
        self.pinned_releases = sim.strategy.pinned_releases or {}
        self.then_on_demand = sim.strategy.release_policy == "pinned_then_on_demand"
        self.pins_left = [0] * len(self.tracks)
        for ts in self.tracks:
            ts.pinned = ts.name in self.pinned_releases
        self.track_units: list[list[int]] = [[] for _ in self.tracks]

    def wire(self, sim) -> None:
        self._units = sim.units
        self._exposure = sim.exposure
        self._detection = sim.detection
        self._adoption = sim.adoption
        self._evidence = sim.evidence
        self._recorder = sim.recorder
        self._notify = sim.notify
        self._emit = sim.signals.emit
        self._log = sim.log

    # ---------------------------------------------------------------- reports
    def report_later(self, ts: TrackState, d: int, arrival: float) -> None:
        """A report of defect d is on its way; the earliest arrival makes it known."""
        if arrival < ts.pending_report[d]:
            ts.pending_report[d] = arrival
            self.clock.at(arrival - self.clock.env._now, self._report, ts.index, d)

    def _report(self, t: int, d: int) -> None:
        ts = self.tracks[t]
        if ts.known_at[d] < math.inf or self.clock.env._now < ts.pending_report[d]:
            return
        ts.known_at[d] = self.clock.env._now
        ts.n_known += 1
        self._recorder.track(self.clock.env._now, t, ts)
        self._log("report", -1, t, d)
        self._emit("known", t, d)
        self.consider(t)
        self._notify()

    # ---------------------------------------------------------------- releases
    def consider(self, t: int) -> None:
        """Start work on the next version (on demand) if known, uncorrected defects wait."""
        ts = self.tracks[t]
        if ts.working or ts.pinned or not ts.known_uncorrected():
            return
        ts.working = True
        self._work(ts)

    def _work(self, ts: TrackState) -> None:
        """One work period on the next version of a track, from now."""
        c = self.config.centre
        ts.attempts += 1
        u_time, _ = self.world.release_luck(ts.index, ts.attempts)
        work = c.recalibration_mean_months / c.capacity \
            * gamma_quantile(u_time, c.recalibration_shape) / c.recalibration_shape
        now = self.clock.env._now
        when = max(now + work, ts.release_times[-1] + c.min_release_spacing)
        self.clock.at(when - now, self._release, ts.index, now)
        self._emit("working", ts.index, now, when)

    def schedule_pinned(self) -> None:
        """Releases pinned to calendar dates; the work on each began one mean recalibration time
        before its date, and it fixes what was known then."""
        c = self.config.centre
        lead = c.recalibration_mean_months / c.capacity
        for name, dates in self.pinned_releases.items():
            t = self.config.tracks.index(name)
            for date in sorted(dates):
                when = months_between(self.config.time.start, date)
                if 0.0 < when <= self.clock.horizon:
                    self.pins_left[t] += 1
                    self.clock.at(when, self._release, t, max(0.0, when - lead), True)
            if not self.pins_left[t]:
                self._pins_done(self.tracks[t])

    def _pins_done(self, ts: TrackState) -> None:
        """The last pinned release of a track is out: on demand from now, if the policy says so."""
        if self.then_on_demand and ts.pinned:
            ts.pinned = False
            ts.attempts = len(ts.release_times) - 1    # the next work period makes the next one
            self.consider(ts.index)

    def _release(self, t: int, work_start: float, pinned: bool = False) -> None:
        ts = self.tracks[t]
        release = len(ts.release_times)          # 1 for the release that makes version 2
        new_version = ts.version + 1
        q = self.config.centre.fix_prob
        attempt = release if pinned else ts.attempts
        fixes = [d for d in ts.known_uncorrected() if ts.known_at[d] <= work_start
                 and ts.traits[d].fix_uniforms[(attempt - 1) % FIX_ATTEMPTS] < q]
        if not fixes and not pinned:
            self._work(ts)          # nothing fixed: no version is cut; work on
            return
        for d in fixes:
            ts.fixed[d] = new_version
            ts.n_fixed += 1
        state, context = self._units.state, self._units.context
        units = [u for u in self.track_units[t] if state[u] != NOT_STARTED]
        introduced = []
        for traits in self.world.new_defects(t, release):
            d = ts.add_defect(traits, new_version)
            introduced.append(d)
            manifests = traits.contexts.tolist()
            for u in units:
                if manifests[context[u]]:         # not in force before adoption
                    self._exposure.pairs[u].extend(self._detection.new_pairs(u, ts, (d,)))
        ts.version = new_version
        ts.release_times.append(self.clock.env._now)
        ts.work_starts.append(work_start)
        ts.working = False
        ts.exposure_snapshots.append(self._evidence.snapshot(t))
        self._recorder.track(self.clock.env._now, t, ts)
        self._log("release", -1, t, version=new_version)
        if self._log.on:
            for d in fixes:
                self._log("fix", -1, t, d, new_version)
            for d in introduced:
                self._log("introduce", -1, t, d, new_version)
        self._adoption.schedule_release(t, new_version, units)
        if pinned:
            self.pins_left[t] -= 1
            if not self.pins_left[t]:
                self._pins_done(ts)
        self.consider(t)
        self._notify()
        self._emit("released", t, new_version)
