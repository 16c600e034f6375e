"""Detection of defects in operating units, and what a detection sets off (MODEL.md section 6).

Detection follows the common-random-number construction of section 8: the k-th detection of pair
(defect d, unit u) happens when the pair's integrated hazard crosses the sum of its first k
unit-exponential thresholds (drawn in the world, keyed by defect and unit). A detection is
reported to the centre with probability ``learning.report_prob`` after an exponential delay of
mean ``report_delay_mean``, and patched locally (the defect leaves force in that unit) with
probability ``local_patch_prob`` (a patch of a defect that drove a unit's suspension resumes
it). Detections that cannot change anything (not the defect's first,
no report that could make it known, no local patch) are skipped over exactly, by summing their
thresholds; with the event log on, every detection is simulated instead, and the results are the
same.
"""

from __future__ import annotations

import math

from .states import SUSPENDED
from .tracks import Pair


class Detection:
    """Each unit's next detection, and the detections themselves."""

    def __init__(self, sim):
        cfg = sim.config
        op, learning = cfg.operation, cfg.learning
        self.clock = sim.clock
        self.horizon = sim.clock.horizon
        self.token = [0] * sim.units.n     # a unit's scheduled detection is void once this moves
        self.p_report = learning.report_prob
        self.p_local = learning.local_patch_prob
        self.report_delay = learning.report_delay_mean
        self.simulate_all = sim.log.on
        #: functions (unit, track) -> factor on the severity of the unit's new pairs, registered
        #: by other mechanisms (track_fit.py)
        self.severity_factors: list = []
        # the largest detection multiplier per unit capacity: any state, any phase
        self.max_factor = max(1.0, op.shadow_detection_factor) \
            * max(1.0, learning.evaluation_detection_factor)

    def wire(self, sim) -> None:
        self._units = sim.units
        self._exposure = sim.exposure
        self._tracks = sim.centre.tracks
        self._centre = sim.centre
        self._suspension = sim.suspension
        self._emit = sim.signals.emit
        self._log = sim.log

    def new_pairs(self, u: int, ts, defects) -> list[Pair]:
        """Pairs of unit u with the given defects of track state ``ts``."""
        pairs = [ts.new_pair(d, u) for d in defects]
        for factor in self.severity_factors:
            f = factor(u, ts.index)
            for pr in pairs:
                pr.s *= f
        first_detected = ts.first_detected
        for pr in pairs:
            if first_detected[pr.d] < math.inf:   # else no detection of it can be skipped
                self.skip_irrelevant(u, pr)
        return pairs

    def schedule_next(self, u: int) -> None:
        """Schedule unit u's next relevant detection (the earliest over its pairs)."""
        ex = self._exposure
        if not ex.exposed[u] or ex.mult[u] <= 0.0:
            return
        elapsed = self.clock.env._now - ex.t_last[u]
        best, best_pair = math.inf, None
        for pr in ex.pairs[u]:
            if pr.rate > 0.0:
                wait = (pr.thr - pr.lam) / pr.rate - elapsed
                if wait < best:
                    best, best_pair = wait, pr
        if best_pair is not None:
            self.clock.at(max(0.0, best), self.detect, u, best_pair, self.token[u])

    def skip_irrelevant(self, u: int, pr: Pair) -> None:
        """Move a pair's next detection past those that cannot change anything (exactly). Only
        for a defect detected somewhere already: its first detection always matters."""
        if self.simulate_all:
            return
        ts = self._tracks[self._units.track[u]]
        known = ts.known_at[pr.d] < math.inf
        if self.p_local == 0.0 and (known or self.p_report == 0.0):
            pr.thr = math.inf        # no later detection of this pair can ever matter
            return
        # Beyond the largest integrated hazard the pair can reach by the horizon nothing more
        # happens, so stop there: this bounds the loop however small the probabilities are.
        reach = pr.lam + pr.h * self._units.detection_capacity[u] * self.max_factor \
            * (self.horizon - self._exposure.t_last[u])
        thr = pr.thr
        if thr > reach:
            return
        p_local, p_report, k = self.p_local, self.p_report, pr.k
        luck = ts.detection(pr, u, k)    # [threshold, report u, delay, patch u] of detection k
        while thr <= reach:
            if luck[3] < p_local or (luck[1] < p_report and not known):
                break
            k += 1
            luck = ts.detection(pr, u, k)
            thr += luck[0]
        pr.k, pr.thr = k, thr

    def detect(self, u: int, pr: Pair, token: int) -> None:
        if token != self.token[u]:
            self.clock.stale += 1
            return
        ts = self._tracks[self._units.track[u]]
        d = pr.d
        _, u_report, delay, u_patch = ts.detection(pr, u, pr.k)
        pr.k += 1
        pr.thr += ts.detection(pr, u, pr.k)[0]
        now = self.clock.env._now
        if now < ts.first_detected[d]:
            ts.first_detected[d] = now
        self._log("detect", u, ts.index, d, self._units.version[u])
        if u_report < self.p_report and ts.known_at[d] == math.inf:
            self._centre.report_later(ts, d, now + self.report_delay * delay)
        if u_patch < self.p_local:
            pr.patched = True
            self._log("patch", u, ts.index, d, self._units.version[u])
            resume = self._units.state[u] == SUSPENDED and d in self._suspension.driving[u]
            if resume:      # the patch removed a defect that drove the suspension
                self._suspension.resume(u)
                self._log("resume", u, ts.index, d, self._units.version[u])
            self._exposure.refresh(u)
            if resume:
                self._emit("paying", u)
        else:
            self.skip_irrelevant(u, pr)
            self.token[u] += 1
            self.schedule_next(u)
