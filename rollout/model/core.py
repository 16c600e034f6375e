"""The clock every mechanism schedules on, and the run's event log.

SimPy's environment is the clock (the strategies' processes run on it too). Mechanisms schedule
plain calls on its queue: a ``Call`` is cheaper than an Event plus a closure on the hottest path
of the model, and ``Clock.run_until`` makes it directly (it keeps ``callbacks`` and ``_ok``, all
SimPy's own ``Environment.step`` needs, so ``env.run`` still processes it). Calls whose time is
beyond the horizon are never scheduled.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from heapq import heappop, heappush

import simpy

from .states import EVENT_KINDS

#: SimPy priorities at one time: observations first (before anything changes), then state
#: changes (and the strategies' timeouts), then the end of the run.
BEFORE, NORMAL, END = 0, 1, 3


def _fire(call: Call) -> None:
    call.fn(*call.args)


_FIRE = [_fire]


class Call:
    """A scheduled call of ``fn(*args)``."""

    __slots__ = ("callbacks", "fn", "args")
    _ok = True

    def __init__(self, fn: Callable, args: tuple):
        self.callbacks = _FIRE
        self.fn = fn
        self.args = args


class Clock:
    """The SimPy environment of one run, with cheap scheduling and event counts.

    ``scheduled`` counts calls put on the queue; ``stale`` those that fired but found their
    purpose gone (a detection or suspension superseded by a later change of the unit). Events
    processed = scheduled - stale - still queued at the horizon.
    """

    def __init__(self, horizon: float):
        self.env = simpy.Environment()
        self.horizon = horizon
        self.scheduled = 0
        self.stale = 0
        self._queue = self.env._queue
        self._eid = self.env._eid

    @property
    def now(self) -> float:
        return self.env._now

    def at(self, delay: float, fn: Callable, *args) -> None:
        """Call ``fn(*args)`` after ``delay`` months (dropped if beyond the horizon)."""
        when = self.env._now + delay
        if when > self.horizon:
            return
        heappush(self._queue, (when, NORMAL, next(self._eid), Call(fn, args)))
        self.scheduled += 1

    def observe(self, delay: float, fn: Callable, *args) -> None:
        """Call ``fn(*args)`` after ``delay`` months, before any change at that time."""
        if self.env._now + delay <= self.horizon:
            self.env.schedule(Call(fn, args), BEFORE, delay)
            self.scheduled += 1

    def run_until(self, end: simpy.Event) -> None:
        """Process the queue until ``end`` comes off it: ``Environment.run(until=end)``'s
        semantics (each event's callbacks run in order; a failed event that nobody defused
        crashes the run), with the model's plain calls made directly rather than through
        ``step`` and a callback, which is most of the per-event cost SimPy adds."""
        env, queue, pop = self.env, self._queue, heappop
        while True:
            env._now, _, _, event = pop(queue)
            if event.__class__ is Call:
                event.fn(*event.args)
                continue
            if event is end:
                return
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc

    def processed(self) -> int:
        """Events that did something: neither stale nor left on the queue at the horizon."""
        queued = sum(1 for item in self._queue if isinstance(item[3], Call))
        return self.scheduled - self.stale - queued


class Signals:
    """What mechanisms announce, for mechanisms that react to it (a new component connects in
    its ``wire``; no component needs to know who listens). Emitted on rare events only:

    - ``"operating"`` (unit): a unit began simulated operation or payment for the first time;
    - ``"paying"`` (unit): a unit began paying (first time, or resumed);
    - ``"suspended"`` (unit): a unit was suspended;
    - ``"working"`` (track, start, end): the centre began a work period on a track's next version;
    - ``"released"`` (track, version): the centre released a new version.
    """

    def __init__(self):
        self._listeners: dict[str, list[Callable]] = {}

    def connect(self, name: str, fn: Callable) -> None:
        self._listeners.setdefault(name, []).append(fn)

    def emit(self, name: str, *args) -> None:
        for fn in self._listeners.get(name, ()):
            fn(*args)


class EventLog:
    """Rows (time, kind, province, unit, track, defect, version, defect kind, phase) of every
    event, when on; -1 where a column does not apply. Kinds index ``EVENT_KINDS``, defect kinds
    ``config.KIND_NAMES``, phases ``STAGES``.

    ``tracks`` (the centre's track states, bound once they exist) gives each defect's kind."""

    def __init__(self, clock: Clock, unit_province: list[int], on: bool):
        self.clock = clock
        self.unit_province = unit_province
        self.on = on
        self.rows: list[tuple] = []
        self.tracks: list = []

    def __call__(self, kind: str, unit: int = -1, track: int = -1, defect: int = -1,
                 version: int = -1, province: int = -1, phase: int = -1) -> None:
        if self.on:
            if unit >= 0:
                province = self.unit_province[unit]
            defect_kind = self.tracks[track].traits[defect].kind if defect >= 0 else -1
            self.rows.append((self.clock.env._now, EVENT_KINDS.index(kind), province, unit, track,
                              defect, version, defect_kind, phase))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a run allocates many small objects and frees none
    in cycles until it ends, so collections during it only cost time (6-7% of a run)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
