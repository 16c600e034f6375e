"""The recorder: the monthly series of a run, from change logs (MODEL.md section 9).

Mechanisms report each change of what the cube shows (a unit's harm segment, a province's stage,
defects in force and paying volume, a track's version and known and fixed defects, national
paying volume) with its time. At the end of the run the series on the sampling grid are read off
these logs in a few vectorised passes: the value at grid time g is the last one logged at or
before g, i.e. after every event at g, and a unit's cumulative harm at g is its segment's exact
integral (exploitation.pending_harm). Nothing runs at the grid times themselves. At the horizon
the recorder also computes the run's summary (t_full, t_stable, totals, counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from .exploitation import pending_harm
from .stability import stable_times
from .states import WAITING
from .tracks import NEVER


@dataclass(frozen=True)
class SeriesSpec:
    """A grid series a mechanism adds to the cube: per run ('national', dims time) or per
    province ('province', dims time x province), with its stored dtype and CF attributes."""

    per: str
    dtype: str
    units: str
    long_name: str
    comment: str = ""


@dataclass
class RunResult:
    """Everything one (strategy, replicate) run reports."""

    stage: np.ndarray            # (G, P) int8
    coverage: np.ndarray         # (G, P)
    harm: np.ndarray             # (G, P) cumulative
    benefit: np.ndarray          # (G, P) cumulative
    defects_active: np.ndarray   # (G, P) int16
    version: np.ndarray          # (G, T) int16
    known_defects: np.ndarray    # (G, T) int16, defects known to the centre so far
    fixed_defects: np.ndarray    # (G, T) int16, defects fixed by a release so far
    summary: dict[str, float]
    events: list[tuple] = field(default_factory=list)
    n_events: int = 0            # events processed (not counting stale ones)
    extra: dict[str, np.ndarray] = field(default_factory=dict)   # mechanisms' SERIES
    stable_at: np.ndarray = field(default_factory=lambda: np.zeros(0))   # t_stable per
    # outcomes.stable_harm_shares (NaN: never)


def latest(times, keys, grid: np.ndarray, n_keys: int) -> np.ndarray:
    """(grid, key) index of the last log entry of each key at or before each grid time; -1 if
    none. Entries are logged in time order, so a later entry has a larger index."""
    idx = np.full((len(grid), n_keys), -1, np.int64)
    if len(times):
        first = np.searchsorted(grid, np.asarray(times), side="left")
        ok = first < len(grid)
        np.maximum.at(idx, (first[ok], np.asarray(keys, np.int64)[ok]), np.flatnonzero(ok))
        np.maximum.accumulate(idx, axis=0, out=idx)
    return idx


def table(rows: list[tuple], sentinel: tuple) -> np.ndarray:
    """Rows (t, key, values...) logged in time order as one float array, with ``sentinel`` as
    its last row (so index -1, 'nothing logged yet', reads the sentinel). Keys and codes are
    small integers, exact as floats."""
    width = len(sentinel)
    if any(len(row) != width for row in rows):
        raise ValueError(f"logged rows must have {width} fields, as the sentinel has")
    flat = np.fromiter(chain.from_iterable(rows), float, count=len(rows) * width)
    return np.concatenate([flat, sentinel]).reshape(-1, width)


def as_codes(column: np.ndarray, dtype) -> np.ndarray:
    """A table's column of small integers (counts, codes) in its stored integer dtype; refuses
    values the dtype cannot hold instead of wrapping them."""
    info = np.iinfo(dtype)
    if column.size and (column.min() < info.min or column.max() > info.max):
        raise OverflowError(f"logged values {column.min():g}..{column.max():g} do not fit {dtype}")
    return column.astype(dtype)


def latest_rows(tab: np.ndarray, grid: np.ndarray, n_keys: int) -> np.ndarray:
    """``latest`` of a ``table`` (its sentinel row excluded)."""
    return latest(tab[:-1, 0], tab[:-1, 1].astype(np.int64), grid, n_keys)


def step_series(rows: list[tuple], grid: np.ndarray, n_keys: int, initial: float,
                dtype=float) -> np.ndarray:
    """(grid, key) values of a step function logged as rows (t, key, value) in time order: the
    last value at or before each grid time, ``initial`` before the first."""
    tab = table(rows, (0.0, 0.0, initial))
    column = tab[:, 2].astype(dtype) if np.dtype(dtype).kind == "f" else \
        as_codes(tab[:, 2], dtype)
    return column[latest_rows(tab, grid, n_keys)]


class Recorder:
    """Change logs of one run and the grid series read off them."""

    def __init__(self, sim):
        cfg = sim.config
        self.grid = np.arange(cfg.time.step_months, cfg.time.horizon_months + 1,
                              cfg.time.step_months, dtype=float)
        self.unit_log: list[tuple] = []    # (t, unit, cumulative harm, a, *b): exposure.py
        self._stage: list[tuple] = []      # (t, province, stage)
        self._active: list[tuple] = []     # (t, province, defects in force)
        self._benefit: list[tuple] = []    # (t, province, benefit to t, t, paying volume)
        self._tracks: list[tuple] = []     # (t, track, version, known, fixed)
        self._national: list[tuple] = []   # (t, 0, national paying volume): one key

    def wire(self, sim) -> None:
        self._sim = sim
        self._mechanisms = [c for c in sim.component_list if getattr(c, "SERIES", None)]

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
        self._national.append((t, 0, volume))

    # ---------------------------------------------------------------- the grid series
    def series(self) -> dict[str, np.ndarray]:
        """Every grid series of the run (RunResult's arrays, and the national rates)."""
        sim = self._sim
        grid, g = self.grid, len(self.grid)
        n_units, n_prov, n_tracks = sim.units.n, sim.provinces.n, len(sim.centre.tracks)
        taus = np.array(sim.taus[1:])    # slot 0 is the dummy with b = 0: adds exactly 0
        prov = sim.world.unit_province
        out: dict[str, np.ndarray] = {}

        tab = table(self.unit_log, (0.0,) * (4 + len(sim.taus)))
        idx = latest_rows(tab, grid, n_units)
        cols = tab.T.copy()              # [t0, unit, cum, a, b_0, b_1, ...] by row
        b = [cols[j][idx] for j in range(5, len(cols))]
        cum, rate = pending_harm(grid, cols[0][idx], cols[2][idx], cols[3][idx], b, taus)
        flat = (prov[None, :] + n_prov * np.arange(g)[:, None]).ravel()
        harm = np.bincount(flat, cum.ravel(), g * n_prov).reshape(g, n_prov)
        # The true cumulative harm never decreases; this only removes float rounding.
        out["harm"] = np.maximum.accumulate(np.maximum(harm, 0.0), axis=0)
        out["harm_rate"] = rate.sum(axis=1)

        tab = table(self._benefit, (0.0, 0.0, 0.0, 0.0, 0.0))
        seg = tab[latest_rows(tab, grid, n_prov)]
        volume = seg[..., 4]
        out["benefit"] = seg[..., 2] \
            + sim.coverage.benefit_rate * volume * (grid[:, None] - seg[..., 3])
        out["coverage"] = np.clip(volume / sim.provinces.weight, 0.0, 1.0)

        out["stage"] = step_series(self._stage, grid, n_prov, WAITING, np.int8)
        out["defects_active"] = step_series(self._active, grid, n_prov, 0, np.int16)

        tab = table(self._tracks, (0.0, 0.0, 1.0, 0.0, 0.0))
        idx = latest_rows(tab, grid, n_tracks)
        for name, i in (("version", 2), ("known_defects", 3), ("fixed_defects", 4)):
            out[name] = as_codes(tab[:, i], np.int16)[idx]

        tab = table(self._national, (0.0, 0.0, 0.0))
        out["national_benefit_rate"] = \
            sim.coverage.benefit_rate * tab[:, 2][latest_rows(tab, grid, 1)[:, 0]]
        return out

    def result(self) -> RunResult:
        """Close the run at the horizon: integrate every unit to the end, read the series off
        the logs, and compute the run's summary."""
        sim = self._sim
        ex, cov = sim.exposure, sim.coverage
        ex.close_all()
        cov.national_change(0.0)
        series = self.series()
        used = [ts for ts in sim.centre.tracks if sim.centre.track_units[ts.index]]
        harm_total = float(sum(ex.harm_cum))
        benefit_total = cov.benefit_total(sim.clock.horizon)
        if cov.discount > 0.0:
            net = cov.benefit_disc - float(sum(ex.harm_disc))
        else:
            net = benefit_total - harm_total
        outcomes = sim.config.outcomes
        shares = [outcomes.stable_harm_share, *outcomes.stable_harm_shares]
        stable = stable_times(self.grid, series["harm_rate"], series["national_benefit_rate"],
                              cov.t_cov_rise, shares)
        summary = {
            "t_full": cov.t_full,
            "t_stable": float(stable[0]),
            "end_harm_rate": float(series["harm_rate"][-1]),
            "end_benefit_rate": float(series["national_benefit_rate"][-1]),
            "harm_total": harm_total,
            "benefit_total": benefit_total,
            "net_benefit": net,
            "suspensions": float(sim.suspension.count),
            "defects_detected": float(sum(1 for ts in used for x in ts.first_detected
                                          if x < math.inf)),
            "defects_fixed": float(sum(1 for ts in used for x in ts.fixed if x != NEVER)),
            "defects_remaining": float(sum(1 for ts in used for x in ts.fixed if x == NEVER)),
            "releases": float(sum(len(ts.release_times) - 1 for ts in used)),
        }
        return RunResult(stage=series["stage"], coverage=series["coverage"],
                         harm=series["harm"], benefit=series["benefit"],
                         defects_active=series["defects_active"], version=series["version"],
                         known_defects=series["known_defects"],
                         fixed_defects=series["fixed_defects"], summary=summary,
                         events=sim.log.rows, n_events=sim.clock.processed(),
                         extra=self.extra_series(), stable_at=stable[1:])

    def extra_series(self) -> dict[str, np.ndarray]:
        """The grid series other mechanisms declare (their ``SERIES``) and compute."""
        out: dict[str, np.ndarray] = {}
        for component in self._mechanisms:
            values = component.series(self.grid)
            for name, spec in component.SERIES.items():
                out[name] = np.asarray(values[name], dtype=spec.dtype)
        return out
