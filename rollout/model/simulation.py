"""One strategy in one replicate's world: the mechanisms assembled, and the interface through
which a strategy drives them (MODEL.md sections 5-7; docs/model.md "The model's components").

Each mechanism is one component (a module of this package) with its own state; ``COMPONENTS``
lists them in the order they are built and wired. A component's ``__init__(sim)`` sets up its
own state from the config and world; ``wire(sim)`` then binds the other components it talks to.
A new mechanism is one more module and one more entry here: it reacts to what others announce
(``sim.signals``, core.py), may scale preparation times (``sim.lifecycle.preparation_factors``)
or take over how preparation is waited for (``sim.lifecycle.prepare``), and reports what it
records through the recorder.

Strategies (rollout.strategies) use only the public methods of ``Simulation`` below: start units,
set a province's phase, wait for a change, and ask for the evidence the centre has.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import simpy

from ..config import RolloutConfig, StrategyConfig
from .adoption import Adoption
from .centre import Centre
from .core import END, Clock, EventLog, Signals, gc_paused
from .coverage import Coverage
from .detection import Detection
from .evidence import EvidenceExposure, expected_undetected
from .exposure import Exposure
from .lifecycle import Lifecycle
from .mechanisms.entrenchment import Entrenchment
from .mechanisms.legitimacy import Legitimacy
from .mechanisms.spillovers import Spillovers
from .mechanisms.support import Support
from .mechanisms.track_fit import TrackFit
from .provinces import Provinces
from .recorder import Recorder, RunResult, SeriesSpec
from .states import (  # noqa: F401  (re-exported: the codes strategies and tests use)
    COMPLETE,
    EVALUATION,
    EVENT_KINDS,
    NOT_STARTED,
    PAYING,
    PILOT,
    PREPARING,
    RECALIBRATION,
    SCALE_UP,
    SHADOW,
    STAGES,
    SUSPENDED,
    SUSPENDED_STAGE,
    UNIT_STATES,
    WAITING,
)
from .suspension import Suspension
from .tracks import distinct_taus
from .units import Units
from .world import World

#: (attribute, component class) in build order; every component is then wired in this order.
COMPONENTS: tuple[tuple[str, type], ...] = (
    ("units", Units),
    ("provinces", Provinces),
    ("coverage", Coverage),
    ("evidence", EvidenceExposure),
    ("centre", Centre),
    ("exposure", Exposure),
    ("detection", Detection),
    ("suspension", Suspension),
    ("adoption", Adoption),
    ("lifecycle", Lifecycle),
    ("entrenchment", Entrenchment),
    ("track_fit", TrackFit),
    ("support", Support),
    ("spillovers", Spillovers),
    ("legitimacy", Legitimacy),
    ("recorder", Recorder),
)


def mechanism_series(components: tuple[tuple[str, type], ...] = COMPONENTS
                     ) -> dict[str, SeriesSpec]:
    """The grid series the mechanisms add to the cube (each component's ``SERIES``)."""
    out: dict[str, SeriesSpec] = {}
    for _, cls in components:
        out.update(getattr(cls, "SERIES", {}))
    return out


#: What a strategy may use of a Simulation (docs/model.md, "The strategies' interface").
STRATEGY_INTERFACE = (
    "config", "world", "strategy", "env", "n_units", "n_provinces",
    "at", "start_unit", "release_units", "set_phase", "phase", "wait_change",
    "pilots_paying", "unit_version", "known_open_defects", "known_at", "release_work_starts",
    "exposure_by_context", "expected_undetected", "harm_to_date",
)


class Simulation:
    """One strategy in one replicate's world."""

    def __init__(self, config: RolloutConfig, world: World, strategy: StrategyConfig,
                 record_events: bool = False,
                 components: tuple[tuple[str, type], ...] = COMPONENTS):
        self.config = config
        self.world = world
        self.strategy = strategy
        self.taus = distinct_taus(config)
        self.clock = Clock(float(config.time.horizon_months))
        self.env = self.clock.env
        self.log = EventLog(self.clock, world.unit_province.tolist(), record_events)
        self.signals = Signals()
        self._waiter: simpy.Event | None = None
        self.component_list = []
        for name, cls in components:
            setattr(self, name, cls(self))
            self.component_list.append(getattr(self, name))
        self.log.tracks = self.centre.tracks
        self._wiring: list[tuple[object, list[str]]] = []
        for name, _ in components:
            component = getattr(self, name)
            before = set(vars(component))
            component.wire(self)
            self._wiring.append((component, [a for a in vars(component) if a not in before]))

    # ------------------------------------------------------------ the strategies' interface
    @property
    def n_units(self) -> int:
        return self.units.n

    @property
    def n_provinces(self) -> int:
        return self.provinces.n

    def start_unit(self, u: int, track: int, shadow_months: float, shadow_from: float,
                   pilot: bool = False, hold: bool = False) -> None:
        """Start unit u preparing to run ``track``: it shadows for ``shadow_months`` (from
        ``shadow_from`` at the earliest), then pays. A held unit waits, once prepared, for
        ``release_units``. A unit already started is left alone."""
        self.lifecycle.start(u, track, shadow_months, shadow_from, pilot, hold)

    def release_units(self, units) -> None:
        """Held units may operate from now (at once if prepared)."""
        for u in units:
            self.lifecycle.release(u)

    def at(self, delay: float, fn: Callable, *args) -> None:
        """Call ``fn(*args)`` after ``delay`` months (dropped beyond the horizon)."""
        self.clock.at(delay, fn, *args)

    def observe(self, delay: float, fn: Callable, *args) -> None:
        """Call ``fn(*args)`` after ``delay`` months, before anything happens at that time (for
        measurements such as calibration targets; the state is read from the components)."""
        self.clock.observe(delay, fn, *args)

    def set_phase(self, provinces, phase: int) -> None:
        """Set the phase of provinces (states.py); evaluation intensifies detection there."""
        self.provinces.set_phase(provinces, phase)

    def phase(self, p: int) -> int:
        return self.provinces.phase[p]

    def wait_change(self) -> simpy.Event:
        """An event that fires at the next release, report, pilot payment or pilot adoption."""
        if self._waiter is None:
            self._waiter = simpy.Event(self.env)
        return self._waiter

    def notify(self) -> None:
        """Wake a strategy waiting for a change (mechanisms call this)."""
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.succeed()

    @property
    def pilots_paying(self) -> int:
        """Pilot units that have paid at least once."""
        return self.lifecycle.pilots_paying

    def unit_version(self, u: int) -> int:
        """The rule version unit u runs (0 before it operates)."""
        return self.units.version[u]

    def known_open_defects(self, track: int) -> list[int]:
        """Defects of a track known to the centre and not fixed in its latest version."""
        return self.centre.tracks[track].known_uncorrected()

    def known_at(self, track: int, defect: int) -> float:
        """When the centre learnt of a defect (inf if it has not)."""
        return self.centre.tracks[track].known_at[defect]

    def release_work_starts(self, track: int) -> list[float]:
        """When work began on the release that made each version (version 1 first, at 0)."""
        return self.centre.tracks[track].work_starts

    def exposure_by_context(self, track: int) -> np.ndarray:
        """Detection-weighted months of operation on a track, per context, up to now."""
        return self.evidence.by_context(track)

    def expected_undetected(self, track: int) -> float:
        """The centre's expected number of defects not yet reported on a track (evidence.py)."""
        ts = self.centre.tracks[track]
        return expected_undetected(self.config, self.evidence, track, ts.exposure_snapshots,
                                   ts.reported_by_cohort())

    def harm_to_date(self) -> np.ndarray:
        """Each unit's cumulative harm now (what pilots' harm shows the centre)."""
        return self.exposure.harm_to_date()

    # ---------------------------------------------------------------- run
    def run(self, controller: Callable[[Simulation], Generator]) -> RunResult:
        """Run the strategy's controller process to the horizon and collect the results."""
        with gc_paused():
            for t in range(len(self.centre.tracks)):
                self.recorder.track(0.0, t, self.centre.tracks[t])
            self.centre.schedule_pinned()
            self.env.process(controller(self))
            end = simpy.Event(self.env)
            end._ok, end._value = True, None
            self.env.schedule(end, END, self.clock.horizon)
            self.clock.run_until(end)
            result = self.recorder.result()
            self._unwire()
            return result

    def _unwire(self) -> None:
        """Drop the references components hold to each other and what is left on the clock, so
        a finished run is freed by reference counting instead of by the cyclic garbage
        collector (that pass cost 13% of a replicate). The components' own state stays readable;
        the run cannot go on."""
        for component, names in self._wiring:
            for name in names:
                delattr(component, name)
        self._wiring = []
        self.component_list = []
        self.env._queue.clear()
        self._waiter = None
        self.signals = Signals()
