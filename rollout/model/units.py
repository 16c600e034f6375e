"""The units (regions, or hospitals inside regions) and their states (MODEL.md sections 3, 5).

A unit is not started, preparing, in simulated operation (shadow), paying, or suspended. This
table holds each unit's fixed attributes (from the world), its state, track and version, and the
dates the outcomes need; ``set_state`` is the one place a state changes, and it tells coverage
(benefit, national coverage) and the provinces (reported stages) what changed.
"""

from __future__ import annotations

import math

import numpy as np

from .states import NOT_STARTED, PAYING


class Units:
    """Per-unit attributes and states of one run (plain lists: a unit is touched one at a time)."""

    def __init__(self, sim):
        world = sim.world
        self.n = world.n_units
        self.weight: list[float] = world.weight.tolist()
        self.capacity: list[float] = world.capacity.tolist()
        # a unit's share of its region's volume: a region's detection hazard is split over its
        # hospitals by their shares, so it does not depend on how many there are (1 for regions)
        region_weight = np.bincount(world.unit_region, world.weight)[world.unit_region]
        share = world.weight / region_weight
        self.detection_capacity: list[float] = (world.capacity * share).tolist()
        self.context: list[int] = world.context.tolist()
        self.province: list[int] = world.unit_province.tolist()
        self.state = [NOT_STARTED] * self.n
        self.track = [-1] * self.n
        self.version = [0] * self.n
        self.is_pilot = [False] * self.n
        self.first_paid = [math.nan] * self.n
        self.first_operating = [math.nan] * self.n    # first shadow or payment (calibration)

    def wire(self, sim) -> None:
        self._coverage = sim.coverage
        self._provinces = sim.provinces

    def set_state(self, u: int, new: int) -> None:
        """Move unit u to state ``new`` and account for what that changes."""
        old = self.state[u]
        p = self.province[u]
        if old == PAYING or new == PAYING:
            self._coverage.pay_change(p, self.weight[u] if new == PAYING else -self.weight[u])
        self.state[u] = new
        self._provinces.unit_state_changed(p, old, new)
