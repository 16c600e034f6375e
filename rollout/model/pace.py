"""The national pace of preparation work (docs/model.md, "The pace of work in progress"; issue
20).

Two mechanisms act on *all* preparation in progress at once, whatever design started it and
whenever: learning spillovers (experience makes the remaining work go faster) and legitimacy (a
pause stops it; low national trust slows it). Both are national, so they change one clock: the
national work time Phi(t), with

    dPhi/dt = kappa(t) / (1 + a(t)),   kappa = product of the mechanisms' factors (piecewise
                                       constant: (1 + E)^b, 0 while paused),
                                       a(t) = a_0 exp(-r (t - t_ref)) (slowing x national deficit).

A unit at credibility c whose work left is L at Phi_0 is ready when Phi reaches Phi_0 + L c.
Between changes Phi has the closed form

    Phi(t) = Phi_ref + kappa [tau + ln((1 + a_0 e^(-r tau)) / (1 + a_0)) / r],  tau = t - t_ref,

and its inverse (the time Phi reaches phi, Delta = (phi - Phi_ref) / kappa):

    tau = Delta + ln(1 + a_0 (1 - e^(-r Delta))) / r.

So a change of pace moves one scheduled call (the earliest target of all units), not one per
unit. While kappa = 1 and a = 0 (every factor neutral, as with both mechanisms off or before any
of them has acted) Phi(t) = t and the lifecycle schedules on real time as before: results are
then bit-identical to the mechanisms off. The first change that is not neutral ``activates`` the
pace (the lifecycle moves its work in progress onto it) and it stays active for the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappop, heappush


class Pace:
    """The national work clock Phi and the targets of work in progress on it."""

    def __init__(self, clock):
        self.clock = clock
        self.t_ref = 0.0
        self.phi_ref = 0.0
        self.factors: dict[str, float] = {}
        self.kappa = 1.0
        self.a = 0.0           # slowing x national deficit at t_ref
        self.r = 0.0           # the deficit's decay rate (per month)
        self.active = False
        self.targets: list[tuple[float, int, int, int, int]] = []   # (phi, seq, kind, u, token)
        self.seq = 0
        self.token = 0
        #: called once, when the pace first moves away from real time
        self.on_activate: Callable[[], None] | None = None
        #: fire(kind, unit, token) when Phi reaches a target; live(unit, token): still wanted
        self.fire: Callable[[int, int, int], None] | None = None
        self.live: Callable[[int, int], bool] = lambda u, token: True

    # ------------------------------------------------------------------ the clock
    def phi(self, t: float | None = None) -> float:
        """Phi at time t (now by default)."""
        tau = (self.clock.env._now if t is None else t) - self.t_ref
        if self.kappa == 0.0:
            return self.phi_ref
        if self.a > 0.0 and self.r > 0.0:
            tau += math.log1p(self.a * math.expm1(-self.r * tau) / (1.0 + self.a)) / self.r
        return self.phi_ref + self.kappa * tau

    def time_to(self, phi: float) -> float:
        """Months from now until Phi reaches ``phi`` at the present pace (inf if paused)."""
        if self.kappa == 0.0:
            return math.inf
        delta = (phi - self.phi_ref) / self.kappa
        tau = delta
        if self.a > 0.0 and self.r > 0.0 and delta > 0.0:
            tau += math.log1p(-self.a * math.expm1(-self.r * delta)) / self.r
        return max(0.0, self.t_ref + tau - self.clock.env._now)

    def set(self, name: str | None = None, factor: float = 1.0, a: float | None = None,
            r: float | None = None) -> None:
        """From now on: mechanism ``name``'s factor on kappa is ``factor``; the national trust
        slowing is a (decaying at rate r) when given."""
        now = self.clock.env._now
        decayed = self.a * math.exp(-self.r * (now - self.t_ref)) if self.a else 0.0
        self.phi_ref, self.t_ref, self.a = self.phi(now), now, decayed
        if name is not None:
            self.factors[name] = factor
            self.kappa = math.prod(self.factors.values())
        if a is not None:
            self.a, self.r = a, (self.r if r is None else r)
        if not self.active and (self.kappa != 1.0 or self.a != 0.0):
            self.active = True
            if self.on_activate is not None:
                self.on_activate()
        if self.active:
            self._schedule()

    # ------------------------------------------------------------------ targets
    def push(self, phi: float, kind: int, u: int, token: int) -> None:
        """Call fire(kind, u, token) when Phi reaches ``phi`` (void once the token moves)."""
        self.seq += 1
        heappush(self.targets, (phi, self.seq, kind, u, token))
        if self.targets[0][1] == self.seq:
            self._schedule()

    def _schedule(self) -> None:
        self.token += 1
        targets, live = self.targets, self.live
        while targets and not live(targets[0][3], targets[0][4]):
            heappop(targets)            # superseded (a credibility change moved the unit's)
        if targets:
            wait = self.time_to(self.targets[0][0])
            if wait != math.inf:
                self.clock.at(wait, self._reached, self.token)

    def _reached(self, token: int) -> None:
        if token != self.token:
            self.clock.stale += 1
            return
        _, _, kind, u, unit_token = heappop(self.targets)
        self._schedule()
        self.fire(kind, u, unit_token)
