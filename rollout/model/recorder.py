"""The recorder: the monthly series of a run, from change logs (MODEL.md section 9).

Mechanisms report each change of what the cube shows (a unit's harm segment, a province's stage,
defects in force and paying volume, a track's version and known and fixed defects, national
paying volume) with its time. At the end of the run the series on the sampling grid are read off
these logs in a few vectorised passes: the value at grid time g is the last one logged at or
before g, i.e. after every event at g, and a unit's cumulative harm at g is its segment's exact
integral (exploitation.pending_harm). Nothing runs at the grid times themselves.
"""

from __future__ import annotations

import numpy as np

from .exploitation import pending_harm
from .states import WAITING


def latest(times: list[float], keys: list[int], grid: np.ndarray, n_keys: int) -> np.ndarray:
    """(grid, key) index of the last log entry of each key at or before each grid time; -1 if
    none. Entries are logged in time order, so a later entry has a larger index."""
    idx = np.full((len(grid), n_keys), -1, np.int64)
    if times:
        first = np.searchsorted(grid, np.asarray(times), side="left")
        ok = first < len(grid)
        np.maximum.at(idx, (first[ok], np.asarray(keys)[ok]), np.flatnonzero(ok))
        np.maximum.accumulate(idx, axis=0, out=idx)
    return idx


def _column(rows: list[tuple], i: int, sentinel, dtype=float) -> np.ndarray:
    """Column i of logged rows, with ``sentinel`` appended (index -1 means 'nothing logged')."""
    return np.array([r[i] for r in rows] + [sentinel], dtype=dtype)


class Recorder:
    """Change logs of one run and the grid series read off them."""

    def __init__(self, sim):
        cfg = sim.config
        self.grid = np.arange(cfg.time.step_months, cfg.time.horizon_months + 1,
                              cfg.time.step_months, dtype=float)
        self.unit_log: list[tuple] = []    # (t, unit, cumulative harm, a, b): exposure.py
        self._stage: list[tuple] = []      # (t, province, stage)
        self._active: list[tuple] = []     # (t, province, defects in force)
        self._benefit: list[tuple] = []    # (t, province, benefit to t, t, paying volume)
        self._tracks: list[tuple] = []     # (t, track, version, known, fixed)
        self._national: list[tuple] = []   # (t, national paying volume)

    def wire(self, sim) -> None:
        self._sim = sim

    # ---------------------------------------------------------------- logging
    def stage(self, t: float, p: int, code: int) -> None:
        self._stage.append((t, p, code))

    def active(self, t: float, p: int, n: int) -> None:
        self._active.append((t, p, n))

    def benefit(self, t: float, p: int, cum: float, since: float, volume: float) -> None:
        self._benefit.append((t, p, cum, since, volume))

    def track(self, t: float, index: int, ts) -> None:
        self._tracks.append((t, index, ts.version, ts.n_known, ts.n_fixed))

    def national(self, t: float, volume: float) -> None:
        self._national.append((t, volume))

    # ---------------------------------------------------------------- the grid series
    def series(self) -> dict[str, np.ndarray]:
        """Every grid series of the run (RunResult's arrays, and the national rates)."""
        sim = self._sim
        grid, g = self.grid, len(self.grid)
        n_units, n_prov, n_tracks = sim.units.n, sim.provinces.n, len(sim.centre.tracks)
        taus = np.array(sim.taus[1:])    # slot 0 is the dummy with b = 0: adds exactly 0
        prov = sim.world.unit_province
        out: dict[str, np.ndarray] = {}

        rows = self.unit_log
        idx = latest([r[0] for r in rows], [r[1] for r in rows], grid, n_units)
        b_rows = np.array([r[4][1:] for r in rows] + [(0.0,) * len(taus)], float)
        cum, rate = pending_harm(grid, _column(rows, 0, 0.0)[idx], _column(rows, 2, 0.0)[idx],
                                 _column(rows, 3, 0.0)[idx], b_rows[idx], taus)
        flat = (prov[None, :] + n_prov * np.arange(g)[:, None]).ravel()
        harm = np.bincount(flat, cum.ravel(), g * n_prov).reshape(g, n_prov)
        # The true cumulative harm never decreases; this only removes float rounding.
        out["harm"] = np.maximum.accumulate(np.maximum(harm, 0.0), axis=0)
        out["harm_rate"] = rate.sum(axis=1)

        rows = self._benefit
        idx = latest([r[0] for r in rows], [r[1] for r in rows], grid, n_prov)
        volume = _column(rows, 4, 0.0)[idx]
        out["benefit"] = _column(rows, 2, 0.0)[idx] \
            + sim.coverage.benefit_rate * volume * (grid[:, None] - _column(rows, 3, 0.0)[idx])
        out["coverage"] = np.clip(volume / sim.provinces.weight, 0.0, 1.0)

        rows = self._stage
        idx = latest([r[0] for r in rows], [r[1] for r in rows], grid, n_prov)
        out["stage"] = _column(rows, 2, WAITING, np.int8)[idx]
        rows = self._active
        idx = latest([r[0] for r in rows], [r[1] for r in rows], grid, n_prov)
        out["defects_active"] = _column(rows, 2, 0, np.int16)[idx]

        rows = self._tracks
        idx = latest([r[0] for r in rows], [r[1] for r in rows], grid, n_tracks)
        for name, i, first in (("version", 2, 1), ("known_defects", 3, 0),
                               ("fixed_defects", 4, 0)):
            out[name] = _column(rows, i, first, np.int16)[idx]

        rows = self._national
        idx = latest([r[0] for r in rows], [0] * len(rows), grid, 1)[:, 0]
        out["national_benefit_rate"] = sim.coverage.benefit_rate * _column(rows, 1, 0.0)[idx]
        return out
