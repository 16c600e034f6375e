"""The strategy as a SimPy process: pilot, evaluate, recalibrate, then scale up in waves.

Each primitive of a StrategyConfig is one step here, so any combination a config writes is a
valid design. The pilot phase ends once ``pilot_quorum`` of the pilots have paid for
``pilot_paying_months`` (stragglers carry on), and the recalibration gate opens once that share of
pilots runs a version built with every defect known at the end of evaluation. No pilots means
straight to scale-up (big bang). Wave dates pin waves to the calendar, their regions starting to
prepare ``wave_lead_months`` earlier, the later dates drawn towards the first by
``wave_date_scale`` (historical; gates are then not awaited); undated waves' regions prepare
``wave_lead_months`` ahead of the wave's foreseeable date and operate once it starts (_Waves).
An evidence threshold holds every wave until the centre's expected number of undetected
defects is below it (adaptive); track choice by evidence lets each province pick the track whose
pilots did better (dual track); track choice by fit puts each scale-up region on the track that
suits its capacity tier (track_fit.py; big_bang_matched).
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np

from ..calendar import months_between
from ..model.mechanisms.track_fit import fitting_tracks
from ..model.shadow_times import shadow_factor
from ..model.simulation import (
    EVALUATION,
    PILOT,
    RECALIBRATION,
    SCALE_UP,
    Simulation,
)
from .selection import assign_waves, select_pilots


def _units_of(sim: Simulation, regions: np.ndarray) -> list[int]:
    """Units of the given regions, in unit order (units are sorted by region)."""
    bounds = sim.world.region_unit_bounds
    regions = np.unique(np.asarray(regions, dtype=np.int64))
    return [u for r in regions.tolist() for u in range(bounds[r], bounds[r + 1])]


def _month(sim: Simulation, date: str | None) -> float:
    return 0.0 if date is None else max(0.0, months_between(sim.config.time.start, date))


def _recalibrated(sim: Simulation, required: dict[int, float], pilots: dict[int, list[int]]
                  ) -> bool:
    """True when, for every track, a release whose work began after all defects known at the end
    of evaluation were known has been adopted by a quorum of that track's pilots."""
    for t, known_by in required.items():
        ok_versions = [v for v, start in enumerate(sim.release_work_starts(t), start=1)
                       if v > 1 and start >= known_by]
        if not ok_versions:
            return False
        adopted = sum(1 for u in pilots[t] if sim.unit_version(u) >= ok_versions[0])
        if adopted < _quorum(sim, len(pilots[t])):
            return False
    return True


def _quorum(sim: Simulation, n: int) -> int:
    return math.ceil(sim.strategy.pilot_quorum * n - 1e-9)


def _choose_tracks(sim: Simulation, pilots: dict[int, list[int]]) -> np.ndarray:
    """Each province picks the pilot track with fewer known uncorrected defects, then lower
    observed harm per unit of pilot volume (its own pilots if it has any on that track)."""
    harm = sim.harm_to_date()
    weight = sim.world.weight
    prov = sim.world.unit_province
    choice = np.zeros(sim.n_provinces, int)
    for p in range(sim.n_provinces):
        best = None
        for t, units in pilots.items():
            units = np.asarray(units)
            own = units[prov[units] == p]
            ref = own if own.size else units
            key = (len(sim.known_open_defects(t)), harm[ref].sum() / weight[ref].sum())
            if best is None or key < best[0]:
                best = (key, t)
        choice[p] = best[1]
    return choice


class _Waves:
    """The scale-up waves: the units of each, their tracks, and preparation ahead of a wave.

    With ``wave_lead_months`` L > 0 and undated waves, a wave's regions start preparing L months
    before the wave's date as soon as the strategy can foresee it (the first wave's earliest date
    is the end of evaluation, known when evaluation begins; wave i's is wave i - 1's start plus
    the interval), and operate only once the wave starts, after its gates. Dated waves (the
    historical calendar) start preparing L months before their date and operate when ready."""

    def __init__(self, sim: Simulation, pilots: dict[int, list[int]], pilot_regions: list[int]):
        self.sim, self.pilots = sim, pilots
        s, world = sim.strategy, sim.world
        self.by_prov = []
        piloting = set(pilot_regions)
        for p, regions in enumerate(world.province_regions):
            if piloting:
                regions = regions[[r not in piloting for r in regions.tolist()]]
            self.by_prov.append(assign_waves(world, regions, s.waves, s.wave_order, p))
        self.lead = s.wave_lead_months if s.wave_dates is None else 0.0
        self.prov_track: np.ndarray | None = None
        self.unit_track: list[int] | None = None
        if s.track_choice == "fit":
            self.unit_track = fitting_tracks(sim.config, world.capacity,
                                             sim.config.tracks.index(s.track)).tolist()
        self.prepared = [False] * len(s.waves)

    def tracks(self) -> np.ndarray:
        """Each province's track, chosen the first time it is needed."""
        if self.prov_track is None:
            sim = self.sim
            if sim.strategy.track_choice == "evidence":
                self.prov_track = _choose_tracks(sim, self.pilots)
            else:
                self.prov_track = np.full(sim.n_provinces,
                                          sim.config.tracks.index(sim.strategy.track))
        return self.prov_track

    def tracks_in_use(self) -> np.ndarray:
        """The tracks the scale-up puts regions on (the evidence gate watches them)."""
        return np.unique(self.tracks() if self.unit_track is None else self.unit_track)

    def _units(self, i: int) -> list[tuple[int, int]]:
        tracks, fit = self.tracks(), self.unit_track
        return [(u, int(tracks[p]) if fit is None else fit[u])
                for p in range(self.sim.n_provinces)
                for u in _units_of(self.sim, self.by_prov[p][i])]

    def foresee(self, i: int, date: float) -> None:
        """Wave i's (earliest) date is now known: its regions prepare ``lead`` months ahead."""
        if self.lead > 0.0 and i < len(self.prepared):
            self.sim.at(max(0.0, date - self.lead - self.sim.env.now), self._prepare, i)

    def _prepare(self, i: int) -> None:
        if not self.prepared[i]:
            self.prepared[i] = True
            for u, t in self._units(i):
                self.sim.start_unit(u, t, _wave_shadow(self.sim, u), 0.0, hold=True)

    def start(self, i: int) -> None:
        """Wave i starts: prepared regions operate (at once if ready), the others start."""
        if self.prepared[i]:
            self.sim.release_units([u for u, _ in self._units(i)])
        else:
            self.prepared[i] = True
            for u, t in self._units(i):
                self.sim.start_unit(u, t, _wave_shadow(self.sim, u), 0.0)


def run_strategy(sim: Simulation) -> Generator:
    """The SimPy process of one strategy."""
    env, s, world, cfg = sim.env, sim.strategy, sim.world, sim.config
    pilots: dict[int, list[int]] = {}
    taken: set[int] = set()
    pilot_regions: list[int] = []
    for group in s.pilots:
        t = cfg.tracks.index(group.track)
        regions = select_pilots(world, t, group.count, group.max_per_province, s.selection, taken)
        taken.update(regions.tolist())
        pilot_regions.extend(regions.tolist())
        units = _units_of(sim, regions)
        pilots[t] = units
        sim.at(_month(sim, group.start), _start_pilots, sim, units, t,
               _month(sim, group.shadow_from))
    pilot_provs = np.unique(world.region_province[pilot_regions]) if pilot_regions else []
    waves = _Waves(sim, pilots, pilot_regions)

    if pilots and s.wave_dates is None:
        quorum = _quorum(sim, sum(len(u) for u in pilots.values()))
        while sim.pilots_paying < quorum:
            yield sim.wait_change()
        if s.pilot_paying_months > 0:
            yield env.timeout(s.pilot_paying_months)
        waves.foresee(0, env.now + s.evaluation_months)
        if s.evaluation_months > 0:
            sim.set_phase(pilot_provs, EVALUATION)
            yield env.timeout(s.evaluation_months)
        if s.recalibration_gate or s.evidence_threshold is not None:
            sim.set_phase(pilot_provs, RECALIBRATION)
        if s.recalibration_gate:
            required = {}
            for t in pilots:
                known = sim.known_open_defects(t)
                if known:
                    required[t] = max(sim.known_at(t, d) for d in known)
            while not _recalibrated(sim, required, pilots):
                yield sim.wait_change()

    # Scale-up.
    waves.tracks()
    for i in range(len(s.waves)):
        if s.wave_dates is not None:
            first = _month(sim, s.wave_dates[0])
            when = first + s.wave_date_scale * (_month(sim, s.wave_dates[i]) - first)
            wait = when - s.wave_lead_months - env.now
            if wait > 0:
                yield env.timeout(wait)
        elif i > 0 and s.wave_interval_months > 0:
            yield env.timeout(s.wave_interval_months)
        if s.evidence_threshold is not None and s.wave_dates is None:
            tracks = waves.tracks_in_use()
            while sum(sim.expected_undetected(t) for t in tracks) > s.evidence_threshold:
                yield env.timeout(s.evidence_review_months)
        if i == 0:
            sim.set_phase(np.arange(sim.n_provinces), SCALE_UP)
        waves.start(i)
        waves.foresee(i + 1, env.now + s.wave_interval_months)


def _start_pilots(sim: Simulation, units: list[int], track: int, shadow_from: float) -> None:
    provs = sorted({int(sim.world.unit_province[u]) for u in units})
    sim.set_phase([p for p in provs if sim.phase(p) < PILOT], PILOT)
    for u in units:
        sim.start_unit(u, track, _shadow(sim, u, sim.strategy.pilot_shadow_months,
                                         sim.strategy.pilot_shadow_cv), shadow_from, pilot=True)


def _wave_shadow(sim: Simulation, u: int) -> float:
    return _shadow(sim, u, sim.strategy.wave_shadow_months, sim.strategy.wave_shadow_cv)


def _shadow(sim: Simulation, u: int, mean: float, cv: float) -> float:
    """Unit u's shadow time: ``mean`` exactly at cv 0 (no draw), else mean x its gamma factor
    (mean 1, CV cv; model/shadow_times.py), so shadow times differ between units."""
    return mean * shadow_factor(sim.world, u, cv) if mean else mean
