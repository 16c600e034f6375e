"""A unit's way from start to payment: preparation, simulated operation, payment (MODEL.md 5).

A started unit has W = ``preparation.mean_months`` / capacity^``capacity_exponent`` x its gamma
draw (mean 1) months of preparation work to do, times any factors other mechanisms register in
``preparation_factors``. It works at rate 1 / credibility of its province (suspension.py), which
every suspension in the province raises from that moment on, for units already preparing as for
those that start later: it is ready at the T where the integral of 1 / credibility from its start
to T is W. It then waits for its ``shadow_from`` date if it has one, runs the rules in simulated
operation (shadow) for its shadow length under the track's latest version, and then pays.
``prepare`` (by default: work as above) may be taken over by a mechanism that changes how
preparation unfolds (support.py: a queue for central support), and ``start_gate`` may defer a
start (legitimacy.py: the reform paused). Work in progress moves on the national work clock of
pace.py: real time while every national factor is neutral; once spillovers or legitimacy change
the pace, every unit's remaining work moves at it (issue 20).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .pace import Pace
from .states import NOT_STARTED, PAYING, PREPARING, SHADOW

#: kinds of pace targets
_MILESTONE, _DONE = 0, 1


class Lifecycle:
    """Starts units and moves them through preparation and shadow to payment."""

    def __init__(self, sim):
        n = sim.units.n
        self.clock = sim.clock
        self.prep = sim.config.preparation
        self.prep_factor = sim.world.prep_factor.tolist()
        self.shadow_months = [0.0] * n
        self.shadow_from = [0.0] * n
        # preparation work in progress: work left (months at credibility 1) as of work_t (on
        # the work clock: real time, or the pace's Phi once active), done at rate 1 / work_cred
        # since; the ready event of a unit is void once its token moves
        self.work_left = [0.0] * n
        self.work_t = [0.0] * n
        self.work_cred = [1.0] * n
        self.work_token = [0] * n
        self.work_then: list[Callable[[int], None] | None] = [None] * n
        self.milestone: list[tuple[float, Callable[[int], None]] | None] = [None] * n
        self.working: set[int] = set()
        self.is_ready = [False] * n
        self.released_early = [False] * n   # released before it started (a deferred start)
        self.pilots_paying = 0
        #: functions unit -> factor on its preparation time, registered by other mechanisms
        self.preparation_factors: list[Callable[[int], float]] = []
        #: prepare(unit, work, ready): call ready(unit) once the unit is prepared
        self.prepare: Callable[[int, float, Callable[[int], None]], None] = self.work
        #: start_gate(unit, start): False defers the start (the gate calls start() later)
        self.start_gate: Callable[[int, Callable[[], None]], bool] | None = None
        #: operation_gate(unit, go): False defers entering operation or first payment
        self.operation_gate: Callable[[int, Callable[[], None]], bool] | None = None
        #: the national pace of work in progress (pace.py); mechanisms set its factors
        self.pace = Pace(self.clock)
        self.pace.on_activate = self._onto_pace
        self.pace.fire = self._pace_reached
        self.pace.live = lambda u, token: token == self.work_token[u]

    def wire(self, sim) -> None:
        self._units = sim.units
        self._exposure = sim.exposure
        self._detection = sim.detection
        self._centre = sim.centre
        self._credibility = sim.suspension.credibility
        self._notify = sim.notify
        self._emit = sim.signals.emit
        self._log = sim.log

    def preparation_work(self, u: int) -> float:
        """Unit u's preparation work: months it takes at credibility 1."""
        prep, units = self.prep, self._units
        months = prep.mean_months / units.capacity[u] ** prep.capacity_exponent \
            * self.prep_factor[u]
        for factor in self.preparation_factors:
            months *= factor(u)
        return months

    def work(self, u: int, work: float, then: Callable[[int], None],
             milestone: tuple[float, Callable[[int], None]] | None = None) -> None:
        """Work ``work`` months (at credibility 1) on unit u's preparation at its province's
        credibility; call then(u) when done, and ``milestone``'s fn(u) once the work left has
        come down to its first item."""
        cred = self._credibility[self._units.province[u]]
        self.work_left[u], self.work_t[u], self.work_cred[u] = work, self._work_now(), cred
        self.work_then[u] = then
        self.milestone[u] = milestone
        self.working.add(u)
        self.work_token[u] += 1
        self._schedule(u, work, cred)

    def _work_now(self) -> float:
        """Now on the work clock."""
        return self.pace.phi() if self.pace.active else self.clock.env._now

    def _schedule(self, u: int, left: float, cred: float) -> None:
        token = self.work_token[u]
        if self.pace.active:
            at, push = self.work_t[u], self.pace.push
            if self.milestone[u] is not None:
                push(at + max(0.0, left - self.milestone[u][0]) * cred, _MILESTONE, u, token)
            push(at + max(0.0, left) * cred, _DONE, u, token)
            return
        if self.milestone[u] is not None:
            self.clock.at(max(0.0, left - self.milestone[u][0]) * cred, self._milestone, u, token)
        self.clock.at(max(0.0, left) * cred, self._done, u, token)

    def _onto_pace(self) -> None:
        """The pace leaves real time now: work in progress continues on it (Phi = now here)."""
        for u in sorted(self.working):
            self._rebase(u, self.work_cred[u])

    def _rebase(self, u: int, cred: float) -> None:
        """Unit u's work left as of now; from now on at credibility ``cred``."""
        now = self._work_now()
        self.work_left[u] -= (now - self.work_t[u]) / self.work_cred[u]
        self.work_t[u], self.work_cred[u] = now, cred
        self.work_token[u] += 1
        self._schedule(u, self.work_left[u], cred)

    def _pace_reached(self, kind: int, u: int, token: int) -> None:
        (self._milestone if kind == _MILESTONE else self._done)(u, token)

    def _milestone(self, u: int, token: int) -> None:
        if token != self.work_token[u]:
            self.clock.stale += 1
            return
        _, fn = self.milestone[u]
        self.milestone[u] = None
        fn(u)

    def _done(self, u: int, token: int) -> None:
        if token != self.work_token[u]:
            self.clock.stale += 1
            return
        self.working.discard(u)
        then, self.work_then[u] = self.work_then[u], None
        then(u)

    def credibility_changed(self, p: int) -> None:
        """Province p's credibility changed now: its units' preparation goes on at the new rate."""
        cred = self._credibility[p]
        for u in sorted(self.working):
            if self._units.province[u] == p and self.work_cred[u] != cred:
                self._rebase(u, cred)

    def start(self, u: int, track: int, shadow_months: float, shadow_from: float,
              pilot: bool = False, hold: bool = False) -> None:
        """Start unit u preparing to run ``track``; it shadows, then pays. A held unit, once
        prepared, waits for ``release`` before it operates."""
        units = self._units
        if units.state[u] != NOT_STARTED:
            return
        if self.start_gate is not None and not self.start_gate(
                u, lambda: self.start(u, track, shadow_months, shadow_from, pilot, hold)):
            return
        ts = self._centre.tracks[track]
        units.track[u] = track
        self._centre.track_units[track].append(u)
        fixed, version = ts.fixed, ts.version
        self._exposure.pairs[u] = self._detection.new_pairs(
            u, ts, [d for d in ts.by_context[units.context[u]] if fixed[d] > version])
        self.shadow_months[u] = shadow_months
        self.shadow_from[u] = math.inf if hold and not self.released_early[u] else shadow_from
        units.is_pilot[u] = pilot
        self._exposure.t_last[u] = self.clock.env._now
        units.state[u] = PREPARING
        self._log("start", u, track)
        self.prepare(u, self.preparation_work(u), self._ready)

    def _ready(self, u: int) -> None:
        self._log("ready", u, self._units.track[u])
        self.is_ready[u] = True
        wait = self.shadow_from[u] - self.clock.env._now
        if wait > 0.0:
            self.clock.at(wait, self._begin_operation, u)    # dropped if held (infinite)
        else:
            self._begin_operation(u)

    def release(self, u: int) -> None:
        """A held unit may operate from now: at once if prepared, else when it is. A unit not
        started yet (its start deferred: legitimacy.py) will not be held when it starts."""
        if self._units.state[u] == NOT_STARTED:
            self.released_early[u] = True
            return
        if self.shadow_from[u] != math.inf:
            return
        self.shadow_from[u] = self.clock.env._now
        if self.is_ready[u] and self._units.state[u] == PREPARING:
            self._begin_operation(u)

    def _begin_operation(self, u: int) -> None:
        gate = self.operation_gate
        if gate is not None and not gate(u, lambda: self._begin_operation(u)):
            return
        units = self._units
        if math.isnan(units.first_operating[u]):
            units.first_operating[u] = self.clock.env._now
            self._emit("operating", u)
        units.version[u] = self._centre.tracks[units.track[u]].version
        if self.shadow_months[u] > 0.0:
            units.set_state(u, SHADOW)
            self._log("shadow", u, units.track[u], version=units.version[u])
            self._exposure.refresh(u)
            self.clock.at(self.shadow_months[u], self._start_paying, u)
        else:
            self._start_paying(u)

    def _start_paying(self, u: int) -> None:
        units = self._units
        if units.state[u] not in (PREPARING, SHADOW):
            return
        gate = self.operation_gate
        if gate is not None and not gate(u, lambda: self._start_paying(u)):
            return
        units.set_state(u, PAYING)
        if math.isnan(units.first_paid[u]):
            units.first_paid[u] = self.clock.env._now
            if units.is_pilot[u]:
                self.pilots_paying += 1
                self._notify()
        self._log("pay", u, units.track[u], version=units.version[u])
        self._exposure.refresh(u)
        self._emit("paying", u)
