"""Province phases and reported stages (MODEL.md sections 7 and 9).

The strategy sets each province's phase (waiting, pilot, evaluation, recalibration, scale-up);
evaluation multiplies detection in the province's operating units by
``learning.evaluation_detection_factor``. The stage reported for a province is its phase, except
``suspended`` while any of its units is suspended and ``complete`` once it is scaling up and every
unit pays. Stages are recorded whenever they may have changed.
"""

from __future__ import annotations

import numpy as np

from .states import (
    COMPLETE,
    EVALUATION,
    PAYING,
    SCALE_UP,
    SHADOW,
    SUSPENDED,
    SUSPENDED_STAGE,
    WAITING,
)


class Provinces:
    """Phases, detection factors and unit counts of every province."""

    def __init__(self, sim):
        world = sim.world
        self.clock = sim.clock
        self.n = len(world.provinces)
        counts = np.bincount(world.unit_province, minlength=self.n)
        self.units = counts.tolist()
        self.first_unit = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
        self.weight = np.bincount(world.unit_province, world.weight, minlength=self.n)
        self.phase = [WAITING] * self.n
        self.stage_factor = [1.0] * self.n
        self.n_paying = [0] * self.n
        self.n_suspended = [0] * self.n
        self._evaluation_factor = sim.config.learning.evaluation_detection_factor

    def wire(self, sim) -> None:
        self._units = sim.units
        self._exposure = sim.exposure
        self._recorder = sim.recorder
        self._log = sim.log

    def stage(self, p: int) -> int:
        if self.n_suspended[p]:
            return SUSPENDED_STAGE
        if self.phase[p] == SCALE_UP and self.n_paying[p] == self.units[p]:
            return COMPLETE
        return self.phase[p]

    def unit_state_changed(self, p: int, old: int, new: int) -> None:
        if old == PAYING:
            self.n_paying[p] -= 1
        elif old == SUSPENDED:
            self.n_suspended[p] -= 1
        if new == PAYING:
            self.n_paying[p] += 1
        elif new == SUSPENDED:
            self.n_suspended[p] += 1
        self._recorder.stage(self.clock.env._now, p, self.stage(p))

    def set_phase(self, provinces, phase: int) -> None:
        """Set the phase of provinces; evaluation intensifies detection there."""
        factor = self._evaluation_factor if phase == EVALUATION else 1.0
        state = self._units.state
        for p in list(provinces):
            p = int(p)
            if self.phase[p] == phase:
                continue
            self.phase[p] = phase
            self._log("phase", province=p, phase=phase)
            self._recorder.stage(self.clock.env._now, p, self.stage(p))
            if self.stage_factor[p] != factor:
                self.stage_factor[p] = factor
                lo = self.first_unit[p]
                for u in range(lo, lo + self.units[p]):
                    if state[u] >= SHADOW:
                        self._exposure.refresh(u)
