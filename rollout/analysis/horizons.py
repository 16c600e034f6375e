"""Net benefit (and benefit and harm) at several horizons and discount rates, from the stored
cumulative series (docs/model.md section 6, "Outcomes beyond the horizon").

The cube stores each province's cumulative benefit and harm at the grid points, exact
integrals. Undiscounted values at a horizon T on the grid are read off exactly. Discounting at
an annual continuous rate r weights each grid step's increment by exp(-r/12 (t_k - h_k/2)), its
midpoint (h_k the step): between grid points the rates are not stored, so this is the midpoint
rule. Both increments are non-negative, so each discounted total is within a factor
exp(+-r h / 24) of the exact integral (r = 5% a year, monthly grid: 0.21%), whatever the rates
did within the step.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .overtake import months_of
from .survival import horizon_of

DEFAULT_HORIZONS = (10.0, 20.0, 30.0, 50.0)
DEFAULT_RATES = (0.0, 0.03, 0.05)


def analysis_levels(cube: xr.Dataset) -> tuple[list[float], list[float], float]:
    """(horizons in years, discount rates, risk margin) from the cube's stored config (the
    defaults for a cube written before these fields existed)."""
    config = json.loads(cube.attrs.get("config", "{}")).get("analysis", {})
    return (list(config.get("horizons_years", DEFAULT_HORIZONS)),
            list(config.get("discount_rates", DEFAULT_RATES)),
            float(config.get("risk_margin", 1.0)))


def usable_horizons(cube: xr.Dataset, years) -> tuple[list[float], list[float]]:
    """(horizons the run reaches on its grid, horizons it does not): a horizon beyond the run,
    or between grid points, cannot be read off the series."""
    months = months_of(cube)
    end = horizon_of(cube)
    ok, skipped = [], []
    for y in years:
        m = 12.0 * float(y)
        (ok if m <= end and np.any(np.isclose(months, m)) else skipped).append(float(y))
    return ok, skipped


def at_horizons(cube: xr.Dataset, years, rates) -> xr.Dataset:
    """benefit_h, harm_h, net_h with dims (..., strategy, replicate, horizon_years,
    discount_rate): national totals at each horizon (years, on the grid) and rate."""
    months = months_of(cube)
    idx = [int(np.argmin(np.abs(months - 12.0 * y))) for y in years]
    step = np.diff(np.concatenate([[0.0], months]))
    mid = xr.DataArray(months - step / 2, dims="time")
    out = {}
    for name in ("benefit", "harm"):
        total = cube[name].sum("province")                    # national, cumulative
        inc = total.diff("time", label="upper")
        inc = xr.concat([total.isel(time=[0]), inc], dim="time")
        per_rate = []
        for r in rates:
            if r == 0.0:
                per_rate.append(total.isel(time=idx))      # exact, no rounding of a cumsum
            else:
                weight = np.exp(-(float(r) / 12.0) * mid)
                per_rate.append((inc * weight).cumsum("time").isel(time=idx))
        stacked = xr.concat(per_rate, dim=xr.DataArray(np.asarray(rates, float),
                                                       dims="discount_rate"))
        stacked = stacked.drop_vars([c for c in ("time", "month") if c in stacked.coords])
        stacked = stacked.rename({"time": "horizon_years"})
        out[f"{name}_h"] = stacked.assign_coords(horizon_years=np.asarray(years, float))
    ds = xr.Dataset(out)
    ds["net_h"] = ds["benefit_h"] - ds["harm_h"]
    for name in ds.data_vars:
        ds[name].attrs.update(units="1", comment="benefit units; discounted at the midpoint "
                                                 "of each grid step (horizons.py)")
    return ds
