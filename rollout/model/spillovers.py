"""Learning spillovers from experience (docs/model.md, "Learning spillovers"; issue 11,
mechanism 2).

Every region that has operated (begun simulated operation or payment) and every version the centre
has released add to the nation's experience of the reform,

    E(t) = (units that have operated by t) + ``release_weight`` x (releases after version 1 by t),

and a unit that starts preparing at t has its preparation work scaled by the experience curve
(1 + E(t))^-b, b = ``spillovers.elasticity`` (Wright's law: each doubling of experience cuts
the work by 1 - 2^-b). The factor is fixed when the unit starts; pilots, the first to operate,
are the first teachers. With b = 0 nothing changes.
"""

from __future__ import annotations

import numpy as np

from .recorder import SeriesSpec, step_series


class Spillovers:
    """The nation's experience of the reform and the preparation factor it gives."""

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
        if self.on:
            sim.lifecycle.preparation_factors.append(self.factor)

    def factor(self, u: int) -> float:
        """Preparation factor for a unit starting now."""
        return (1.0 + self.experience) ** -self.b

    def _operated(self, u: int) -> None:
        self._add(1.0)

    def _released(self, track: int, version: int) -> None:
        self._add(self.release_weight)

    def _add(self, amount: float) -> None:
        self.experience += amount
        self.log.append((self.clock.env._now, 0, self.experience))

    def series(self, grid: np.ndarray) -> dict[str, np.ndarray]:
        return {"experience": step_series(self.log, grid, 1, 0.0)[:, 0]}
