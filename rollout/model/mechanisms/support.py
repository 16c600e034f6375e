"""Finite central implementation support: a queue of support teams (docs/model.md, "Central
support"; issue 11, mechanism 1; issue 20).

Regions need the centre's technical support to prepare: training, grouper and IT integration,
coding audits. Part of it is broadcast and does not queue (national training and conferences:
the December 2021 national conference reached over 4 million participants online): a share
``support.broadcast_share`` of the supported work ``support.share`` x W. The rest needs one of
``support.teams`` teams (one per demonstration city acting as a hub), a SimPy ``Resource``: a
unit that starts preparing requests a team (first come, first served; units started at the same
moment in the order they were started), holds it while it does the team's share
q = share x (1 - broadcast_share) of its preparation work (the first part), releases it, and
does the rest alone. Both parts are preparation work like any other (lifecycle.py: at rate
1 / credibility, at the national pace). A unit that finds a team free starts its work at once,
so with at least as many teams as units, or q = 0, nothing changes. ``support.order`` says which
waiting unit a free team serves: in start order (the default), or the one with the most
(``longest_first``) or the least (``shortest_first``) preparation work, ties in start order: with
one shared queue the order decides much of what the queue does to big bang (docs/model.md). The
cube records the number of units waiting for a team (``support_queue``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from ..recorder import SeriesSpec, step_series


class Support:
    """The support teams and the queue of units waiting for one."""

    SERIES = {
        "support_queue": SeriesSpec(
            "national", "int32", "1", "regions waiting for a central support team",
            "0 throughout when support.enabled is false"),
    }

    def __init__(self, sim):
        cfg = sim.config.support
        self.on = cfg.enabled
        self.share = cfg.share * (1.0 - cfg.broadcast_share)    # q: the team's share
        self.clock = sim.clock
        self.order = cfg.order
        if not self.on:
            self.teams = None
        elif cfg.order == "start":
            self.teams = simpy.Resource(sim.env, capacity=cfg.teams)
        else:
            self.teams = simpy.PriorityResource(sim.env, capacity=cfg.teams)
        self.waiting = 0
        self.log: list[tuple[float, int, int]] = []     # (t, 0, units waiting)

    def wire(self, sim) -> None:
        if self.on and self.share > 0.0:
            self._lifecycle = sim.lifecycle
            sim.lifecycle.prepare = self.prepare

    def prepare(self, u: int, work: float, ready: Callable[[int], None]) -> None:
        """Unit u's preparation: wait for a team, do the supported share with it, the rest
        alone; then ready(u)."""
        if self.order == "start":
            request = self.teams.request()
        else:       # PriorityResource: lower first; ties in request (start) order
            request = self.teams.request(priority=-work if self.order == "longest_first"
                                         else work)
        if request.triggered:           # a team is free: start now, exactly as without queue
            self._supported(u, work, ready, request)
            return
        self._count(+1)
        request.callbacks.append(lambda _event: self._granted(u, work, ready, request))

    def _granted(self, u: int, work: float, ready: Callable[[int], None], request) -> None:
        self._count(-1)
        self._supported(u, work, ready, request)

    def _supported(self, u: int, work: float, ready: Callable[[int], None], request) -> None:
        """Work on unit u's whole preparation; the team is free again once the supported share
        is done (a milestone of the same work, so a unit that never waited is ready exactly
        when it would be without the mechanism)."""
        self._lifecycle.work(u, work, ready, ((1.0 - self.share) * work,
                                              lambda _unit: self.teams.release(request)))

    def _count(self, change: int) -> None:
        self.waiting += change
        self.log.append((self.clock.env._now, 0, self.waiting))

    def series(self, grid: np.ndarray) -> dict[str, np.ndarray]:
        return {"support_queue": step_series(self.log, grid, 1, 0, np.int32)[:, 0]}
