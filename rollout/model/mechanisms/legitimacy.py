"""National legitimacy: trust in the reform, what failures cost it, and the pause (docs/model.md,
"Legitimacy"; issue 11, mechanism 3; issue 20).

Trust is 1 - D, with a deficit D nationally and one in each province. A failure (a suspension
episode: harm that outweighed benefit long enough to be seen) adds ``national_drop`` to the
national deficit and ``province_drop`` to its province's (each capped at 1); deficits decay
exponentially with half-life ``recovery_months``. Low trust slows what is in progress, in every
design alike: all preparation work in progress goes at the pace 1 / (1 + ``slowing`` x D(t)),
D the national deficit as it decays (pace.py, exactly integrated), and a unit's adoption delays
are multiplied by 1 + ``slowing`` x (1 - trust) at the release, trust = national x province
trust. When a failure takes national trust below ``halt_threshold``, the centre pauses the
reform until max(``halt_months``, the time national trust takes to recover to the threshold): no
preparation progresses (work in progress stops and resumes after), no unit starts, enters
simulated operation or begins paying, and no version is adopted; what was due meanwhile happens,
in order, when it ends. Regions already paying keep paying (docs/model.md says why). A failure
during a pause costs trust but does not lengthen it: with adoption held, paying regions' later
failures used to extend the pause to the horizon (a deadlock that fell on the designs with many
paying regions); the strategy's own calendar (evaluation, wave spacing) keeps running.
Without failures trust stays 1 and nothing changes.

**Change (issue 20):** the slowing used to be a factor fixed when a unit started and the pause
only deferred new starts, so neither reached big bang, whose regions all start at month 0 (with
a pause at every failure, big bang's results were identical whether a pause lasted 1 month or
24).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..recorder import SeriesSpec, latest


class Legitimacy:
    """Trust deficits, their effect on units, and the pauses they cause."""

    SERIES = {
        "trust": SeriesSpec("national", "float64", "1", "national trust in the reform",
                            "1 - deficit; 1 throughout when legitimacy.enabled is false"),
        "province_trust": SeriesSpec("province", "float64", "1", "provincial factor of trust in "
                                     "the reform", "a region's trust is trust x province_trust; "
                                     "1 throughout when legitimacy.enabled is false"),
        "halted": SeriesSpec("national", "int8", "1", "1 while the centre has paused the reform",
                             "1 while paused (no preparation, start, operation or adoption), "
                             "0 otherwise"),
    }

    def __init__(self, sim):
        cfg = sim.config.legitimacy
        self.on = cfg.enabled
        self.cfg = cfg
        self.rate = math.log(2.0) / cfg.recovery_months
        self.clock = sim.clock
        n_prov = len(sim.world.provinces)
        self.national = (0.0, 0.0)                 # (deficit, as of time)
        self.province = [(0.0, 0.0)] * n_prov
        self.halted_until = -math.inf
        self.halt_token = 0
        self.deferred: list[Callable[[], None]] = []
        self.halts = 0
        self.n_prov = n_prov
        self.national_log: list[tuple[float, int, float]] = []
        self.province_log: list[tuple[float, int, float]] = []
        self.halt_log: list[tuple[float, int, int]] = []

    def wire(self, sim) -> None:
        if not self.on:
            return
        self._province_of = sim.units.province
        self._pace = sim.lifecycle.pace
        sim.signals.connect("suspended", self._failure)
        sim.adoption.delay_factors.append(self.slowing)
        sim.adoption.gate = self._gate
        sim.lifecycle.start_gate = self._gate
        sim.lifecycle.operation_gate = self._gate

    # ------------------------------------------------------------------ trust
    def _deficit(self, state: tuple[float, float]) -> float:
        deficit, since = state
        return deficit * math.exp(-self.rate * (self.clock.env._now - since)) if deficit else 0.0

    def trust(self, p: int | None = None) -> float:
        """National trust now, or national x province p's."""
        value = 1.0 - self._deficit(self.national)
        if p is not None:
            value *= 1.0 - self._deficit(self.province[p])
        return value

    def slowing(self, u: int) -> float:
        """Factor on unit u's adoption delay for a release now."""
        return 1.0 + self.cfg.slowing * (1.0 - self.trust(self._province_of[u]))

    def _failure(self, u: int) -> None:
        now, p = self.clock.env._now, self._province_of[u]
        national = min(1.0, self._deficit(self.national) + self.cfg.national_drop)
        province = min(1.0, self._deficit(self.province[p]) + self.cfg.province_drop)
        self.national, self.province[p] = (national, now), (province, now)
        self.national_log.append((now, 0, national))
        self.province_log.append((now, p, province))
        if self.cfg.slowing > 0.0:
            self._pace.set(a=self.cfg.slowing * national, r=self.rate)
        threshold = self.cfg.halt_threshold
        if 1.0 - national < threshold and now >= self.halted_until:
            recover = (math.log(national / (1.0 - threshold)) / self.rate if threshold < 1.0
                       else math.inf)       # trust never gets back to 1 exactly
            self._halt(now + max(self.cfg.halt_months, recover))

    # ------------------------------------------------------------------ the pause
    def _halt(self, until: float) -> None:
        now = self.clock.env._now
        if until <= self.halted_until:
            return
        if until == math.inf:
            until = self.clock.horizon + 1.0     # to the end of the run
        if self.halted_until <= now:
            self.halts += 1
            self.halt_log.append((now, 0, 1))
            self._pace.set("pause", 0.0)
        self.halted_until = until
        self.halt_token += 1
        self.clock.at(until - now, self._end_halt, self.halt_token)

    def _end_halt(self, token: int) -> None:
        if token != self.halt_token:
            return
        self.halt_log.append((self.clock.env._now, 0, 0))
        self._pace.set("pause", 1.0)
        deferred, self.deferred = self.deferred, []
        for start in deferred:
            start()

    def _gate(self, u: int, go: Callable[[], None]) -> bool:
        """False during a pause: ``go`` (a unit's start or adoption) waits for its end."""
        if self.clock.env._now < self.halted_until:
            self.deferred.append(go)
            return False
        return True

    # ------------------------------------------------------------------ the cube
    def series(self, grid: np.ndarray) -> dict[str, np.ndarray]:
        return {"trust": self._trust_series(self.national_log, grid, 1)[:, 0],
                "province_trust": self._trust_series(self.province_log, grid, self.n_prov),
                "halted": self._flag_series(grid)}

    def _trust_series(self, rows: list[tuple], grid: np.ndarray, n_keys: int) -> np.ndarray:
        """Trust at each grid time: 1 - the last deficit logged, decayed to the grid time."""
        idx = latest([r[0] for r in rows], [r[1] for r in rows], grid, n_keys)
        times = np.array([r[0] for r in rows] + [0.0])[idx]
        deficits = np.array([r[2] for r in rows] + [0.0])[idx]
        return 1.0 - deficits * np.exp(-self.rate * (grid[:, None] - times))

    def _flag_series(self, grid: np.ndarray) -> np.ndarray:
        rows = self.halt_log
        idx = latest([r[0] for r in rows], [0] * len(rows), grid, 1)[:, 0]
        return np.array([r[2] for r in rows] + [0], np.int8)[idx]
