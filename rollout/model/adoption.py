"""Adoption of new versions by operating units (MODEL.md section 6).

After a release each operating unit (shadow, paying or suspended) adopts the new version after an
exponential delay of mean ``adoption.mean_delay`` (set by central steering), drawn in the world
keyed by track, version and unit. A unit never goes back to an older version. A suspended unit
resumes paying when it adopts a version that fixes a defect that drove its suspension
(suspension.py). Other mechanisms may scale a unit's delay (``delay_factors``: legitimacy.py)
or hold an adoption back (``gate``: legitimacy.py's pause).
"""

from __future__ import annotations

from collections.abc import Callable

from .states import SHADOW, SUSPENDED


class Adoption:
    """Schedules and applies the units' adoption of releases."""

    def __init__(self, sim):
        self.clock = sim.clock
        self.world = sim.world
        self.mean_delay = sim.config.adoption.mean_delay
        #: functions unit -> factor on its adoption delay, registered by other mechanisms
        self.delay_factors: list[Callable[[int], float]] = []
        #: gate(unit, adopt): False defers an adoption (the gate calls adopt() later)
        self.gate: Callable[[int, Callable[[], None]], bool] | None = None

    def wire(self, sim) -> None:
        self._units = sim.units
        self._state = sim.units.state
        self._version = sim.units.version
        self._exposure = sim.exposure
        self._tracks = sim.centre.tracks
        self._suspension = sim.suspension
        self._notify = sim.notify
        self._emit = sim.signals.emit
        self._log = sim.log

    def schedule_release(self, t: int, version: int, units: list[int]) -> None:
        """Every operating unit of the track adopts ``version`` after its own delay."""
        delays = self.world.adoption_delays(t, version)
        mean, state, at = self.mean_delay, self._state, self.clock.at
        factors = self.delay_factors
        for u in units:
            if state[u] >= SHADOW:
                delay = mean * delays[u]
                for factor in factors:
                    delay *= factor(u)
                at(delay, self._adopt, u, version)

    def _adopt(self, u: int, version: int) -> None:
        old = self._version[u]
        state = self._state[u]
        if old >= version or state < SHADOW:
            return
        if self.gate is not None and not self.gate(u, lambda: self._adopt(u, version)):
            return
        self._version[u] = version
        units = self._units
        self._log("adopt", u, units.track[u], version=version)
        resume = state == SUSPENDED and self._suspension.may_resume(u, version)
        changed = resume
        if not changed:
            fixed = self._tracks[units.track[u]].fixed
            for pr in self._exposure.pairs[u]:
                if old < pr.introduced <= version or old < fixed[pr.d] <= version:
                    changed = True
                    break
        if changed:   # otherwise no rate changes: only the version number moves
            if resume:
                self._suspension.resume(u)
                self._log("resume", u, units.track[u], version=version)
            self._exposure.refresh(u)
            if resume:
                self._emit("paying", u)
        if units.is_pilot[u]:
            self._notify()
