"""Per-run outcomes for ``rollout export``'s summary table: the variables of issue 21 that a cube
stores with an extra dimension (``t_stable_at``) or that an older cube lacks (``t_overtake``,
the floor ratio, net benefit at other horizons and rates), as one column each, computed from
the cube's own series where it does not store them (overtake.py, stability_curve.py,
horizons.py)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .horizons import analysis_levels, at_horizons, usable_horizons
from .overtake import overtake_times
from .stability_curve import floor_ratio


def _flat(values: xr.DataArray) -> np.ndarray:
    return values.transpose("strategy", "replicate").values.ravel()


def run_columns(at: xr.Dataset, cube: xr.Dataset) -> dict[str, np.ndarray]:
    """Columns (strategy-major, as export's summary rows) for one design point ``at`` of
    ``cube``; names say the level: ``t_stable_at_0.1``, ``net_benefit_20y_r0.03``."""
    out: dict[str, np.ndarray] = {}
    series = "benefit" in at and "harm" in at
    baseline = json.loads(cube.attrs.get("config", "{}")).get("analysis", {}).get(
        "baseline", "big_bang")
    strategies = [str(s) for s in at["strategy"].values]
    if "t_overtake" not in at and series and baseline in strategies:
        out["t_overtake"] = _flat(overtake_times(at, baseline).load())
    if "t_stable_at" in at:
        for k in at["stable_threshold"].values:
            out[f"t_stable_at_{float(k):g}"] = _flat(at["t_stable_at"].sel(stable_threshold=k))
    if "end_harm_rate" in at or series:
        out["floor_ratio"] = _flat(floor_ratio(at)[0].load())
    if series:
        years, rates, _ = analysis_levels(cube)
        ok, _ = usable_horizons(cube, years)
        if ok:
            h = at_horizons(at, ok, rates)["net_h"].load()
            for y in ok:
                for r in rates:
                    out[f"net_benefit_{y:g}y_r{r:g}"] = _flat(
                        h.sel(horizon_years=y, discount_rate=r))
    return out
