"""Learning spillovers from experience (docs/model.md, "Learning spillovers"; issue 11,
mechanism 2).

Every region that has operated (begun simulated operation or payment) and every version the centre
has released add to the nation's experience of the reform,

    E(t) = (units that have operated by t) + ``release_weight`` x (releases after version 1 by t),

and all preparation work in progress goes at the pace (1 + E(t))^b, b = ``spillovers.elasticity``
(Wright's law: each doubling of experience cuts the work that remains by 1 - 2^-b): a unit with
W months of work at experience 0 is ready at the T where the integral of (1 + E(t))^b from the
moment its work begins to T is W (pace.py). **Change (issue 20):** the factor used to be fixed
when a unit started, before it waited for a support team, so big bang's queued regions prepared
with experience 0 even when their work began years later, and no region already preparing
gained from others' experience. Pilots, the first to operate, are the first teachers. With
b = 0 nothing changes.
"""

from __future__ import annotations

import numpy as np

from ..recorder import SeriesSpec, step_series


class Spillovers:
    """The nation's experience of the reform and the pace of preparation it gives."""

    SERIES = {
        "experience": SeriesSpec(
            "national", "float64", "1",
            "experience of the reform: regions that have operated plus weighted releases",
            "counted whether or not spillovers.enabled; it shortens preparation only if so"),
    }

    def __init__(self, sim):
        cfg = sim.config.spillovers
        self.on = cfg.enabled
        self.b = cfg.elasticity
        self.release_weight = cfg.release_weight
        self.clock = sim.clock
        self.experience = 0.0
        self.log: list[tuple[float, int, float]] = []

    def wire(self, sim) -> None:
        sim.signals.connect("operating", self._operated)
        sim.signals.connect("released", self._released)
        self._pace = sim.lifecycle.pace if self.on and self.b > 0.0 else None

    def speed(self) -> float:
        """The pace of preparation work at today's experience."""
        return (1.0 + self.experience) ** self.b

    def _operated(self, u: int) -> None:
        self._add(1.0)

    def _released(self, track: int, version: int) -> None:
        self._add(self.release_weight)

    def _add(self, amount: float) -> None:
        self.experience += amount
        self.log.append((self.clock.env._now, 0, self.experience))
        if self._pace is not None and amount:
            self._pace.set("spillovers", self.speed())

    def series(self, grid: np.ndarray) -> dict[str, np.ndarray]:
        return {"experience": step_series(self.log, grid, 1, 0.0)[:, 0]}
