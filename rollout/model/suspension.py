"""Suspension of paying units whose harm outweighs their benefit (MODEL.md section 6).

A paying unit is suspended once its harm rate has exceeded its benefit rate times
``1 + suspension.tolerance`` for ``sustain_months`` without a break. The crossings of that limit
are exact (exploitation.positive_intervals), so the suspension is scheduled for the moment the
excess has lasted long enough; a change of the unit that keeps the excess going does not reset
the clock. Each suspension raises its province's credibility multiplier by ``credibility_cost``
(1 + c x suspensions so far), which slows preparation there from that moment on, for units already
preparing and later ones alike (lifecycle.py).

The defects in force in the unit when it is suspended drove its harm over the limit. The unit
resumes only when one of them leaves force: a version that fixes it (adoption.py) or a local patch
(detection.py). It is therefore never suspended twice under the same set of defects in force. A
unit whose excess came from entrenched exploitation alone (no defect in force: all fixed or
patched, their gaming still decaying) resumes at the exact time its harm rate, were it paying,
falls back to the limit.
"""

from __future__ import annotations

import math

from .exploitation import positive_intervals
from .states import PAYING, SUSPENDED


class Suspension:
    """Each paying unit's suspension clock, and the credibility suspensions cost a province."""

    def __init__(self, sim):
        cfg = sim.config
        n = sim.units.n
        self.clock = sim.clock
        self.taus = sim.taus
        self.on = cfg.suspension.enabled
        self.sustain = cfg.suspension.sustain_months
        self.cost = cfg.suspension.credibility_cost
        # a paying unit is suspended once its harm rate exceeds this for the sustain time
        self.limit = (cfg.operation.benefit_rate * (1.0 + cfg.suspension.tolerance)
                      * sim.world.weight).tolist()
        self.token = [0] * n
        self.over_since = [math.nan] * n
        self.pos_intervals: dict[int, list[tuple[float, float]]] = {}
        self.suspended_version = [0] * n
        self.driving: list[frozenset[int]] = [frozenset()] * n   # defects in force at suspension
        self.harming: list[frozenset[int]] = [frozenset()] * n   # ... or entrenched, decaying
        self.resume_token = [0] * n
        self.credibility = [1.0] * len(sim.world.provinces)
        self.count = 0

    def wire(self, sim) -> None:
        self._units = sim.units
        self._exposure = sim.exposure
        self._centre = sim.centre
        self._lifecycle = sim.lifecycle
        self._emit = sim.signals.emit
        self._log = sim.log

    def check_paying(self, u: int, a: float, b: list[float]) -> None:
        """Paying unit u's harm rate is now ``a + sum_j b_j exp(-x / tau_j)``: (re)start its
        suspension clock if the rate can exceed the limit, else stop it."""
        if self.on:
            bound = a
            for x in b:
                if x > 0.0:
                    bound += x
            if bound > self.limit[u]:
                self._schedule(u)
                return
        self.stop(u)

    def stop(self, u: int) -> None:
        """No suspension clock runs for unit u in its new segment."""
        if u in self.pos_intervals or self.over_since[u] == self.over_since[u]:
            self.token[u] += 1
            self.pos_intervals.pop(u, None)
            self.over_since[u] = math.nan

    def _schedule(self, u: int) -> None:
        """When will unit u's harm rate have exceeded its limit for the sustain time?"""
        self.token[u] += 1
        now = self.clock.env._now
        prev = self.pos_intervals.pop(u, None)
        carried = math.nan
        if prev:  # was the harm rate above the limit right up to now, and since when?
            for i, (lo, hi) in enumerate(prev):
                if lo <= now <= hi:
                    carried = self.over_since[u] if i == 0 else lo
                    break
        ex = self._exposure
        spans = positive_intervals(ex.harm_a[u] - self.limit[u], ex.harm_b[u], self.taus,
                                   self.clock.horizon - now)
        if not spans:
            self.over_since[u] = math.nan
            return
        spans = [(now + lo, now + hi) for lo, hi in spans]
        first = carried if spans[0][0] == now and not math.isnan(carried) else spans[0][0]
        self.over_since[u] = first
        self.pos_intervals[u] = spans
        for i, (lo, hi) in enumerate(spans):
            begin = first if i == 0 else lo
            if hi - begin >= self.sustain:
                self.clock.at(begin + self.sustain - now, self._suspend, u, self.token[u])
                return

    def _suspend(self, u: int, token: int) -> None:
        units = self._units
        if token != self.token[u] or units.state[u] != PAYING:
            self.clock.stale += 1
            return
        pairs = self._exposure.pairs[u]
        self.driving[u] = frozenset(pr.d for pr in pairs if pr.paying_inforce)
        self.harming[u] = frozenset(pr.d for pr in pairs if pr.mode)   # in force or entrenched
        units.set_state(u, SUSPENDED)
        self.suspended_version[u] = units.version[u]
        self.credibility[units.province[u]] += self.cost
        self.count += 1
        if self.cost:
            self._lifecycle.credibility_changed(units.province[u])
        self._log("suspend", u, units.track[u], version=units.version[u])
        if self._log.on:                # the defects behind the suspension
            for d in sorted(self.driving[u]):
                self._log("cause", u, units.track[u], d, units.version[u])
            for d in sorted(self.harming[u] - self.driving[u]):
                self._log("cause_entrenched", u, units.track[u], d, units.version[u])
        self._exposure.refresh(u)
        if not self.driving[u]:
            self._schedule_entrenched_resume(u)
        self._emit("suspended", u)

    def entrenched_changed(self, u: int) -> None:
        """Unit u's entrenched harm decays at a new rate (enforcement, entrenchment.py): if it
        is suspended for that harm alone, its resume time moves."""
        if self._units.state[u] == SUSPENDED and not self.driving[u]:
            self._schedule_entrenched_resume(u)

    def _schedule_entrenched_resume(self, u: int) -> None:
        """When does unit u's entrenched (decaying) harm rate, were it paying, reach its limit?"""
        b = [0.0] * len(self.taus)
        a = 0.0
        w = self._units.weight[u]
        for pr in self._exposure.pairs[u]:
            if pr.mode == 2:
                b[pr.j_unlearn] += pr.s * w * pr.e
                if pr.res:                  # entrenched residue (entrenchment.py)
                    if pr.j_res:
                        b[pr.j_res] += pr.s * w * pr.res
                    else:
                        a += pr.s * w * pr.res
        xmax = self.clock.horizon - self.clock.env._now
        spans = positive_intervals(a - self.limit[u], b, self.taus, xmax)
        self.resume_token[u] += 1
        if spans and spans[0][0] == 0.0 and spans[0][1] >= xmax:
            return                          # above the limit to the horizon: never resumes
        wait = spans[0][1] if spans and spans[0][0] == 0.0 else 0.0
        self.clock.at(wait, self._resume_entrenched, u, self.resume_token[u])

    def _resume_entrenched(self, u: int, token: int) -> None:
        if token != self.resume_token[u] or self._units.state[u] != SUSPENDED:
            return
        self.resume(u)
        self._log("resume", u, self._units.track[u], version=self._units.version[u])
        self._exposure.refresh(u)
        self._emit("paying", u)

    def may_resume(self, u: int, version: int) -> bool:
        """Does running ``version`` free suspended unit u (a defect that drove it is fixed)?"""
        driving = self.driving[u]
        if not driving:
            return False        # entrenched exploitation alone: resumes on its own time
        fixed = self._centre.tracks[self._units.track[u]].fixed
        return any(fixed[d] <= version for d in driving)

    def resume(self, u: int) -> None:
        """Suspended unit u pays again (its rates are refreshed by the caller)."""
        self._units.set_state(u, PAYING)
        self.driving[u] = frozenset()
