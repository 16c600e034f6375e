"""Times that may never come within the horizon, summarised without dropping any replicate.

A time such as ``t_full`` that has not come by the horizon H is right-censored at H: all we know
is that it is later than H. Two estimators use every replicate:

- the restricted time min(T, H) (a censored run counts H), whose mean is the restricted mean
  time; the paired difference of restricted times, replicate by replicate, is defined for every
  pair and is what the analysis reports first (it understates a difference when runs are
  censored, never overstates one, and says how many were);
- the median with its Kaplan-Meier confidence interval (lifelines, exponential Greenwood
  interval of the survival curve), 'not reached' (inf) when most runs have not come by H. With
  every censoring at H the Kaplan-Meier median is the plain median of the times with the
  censored ones counted as +inf, which is how the cube stores them, so xarray, pandas and R
  compute the same median as this package.

The pairs where both sides came (the mean over survivors) are kept only as a secondary number:
they select the worlds in which the slower design finished, which biases the difference.
"""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

from ..errors import RolloutError


def horizon_of(cube: xr.Dataset) -> float:
    """The horizon (months) of the runs in a cube, from its stored config."""
    config = json.loads(cube.attrs.get("config", "{}"))
    try:
        return float(config["time"]["horizon_months"])
    except (KeyError, TypeError):
        pass
    if "horizon_months" in cube.attrs:
        return float(cube.attrs["horizon_months"])
    raise RolloutError("the cube does not say its horizon (no 'config' or 'horizon_months' "
                       "attribute): times that never came cannot be restricted to it")


def restricted(values: xr.DataArray, horizon: float) -> xr.DataArray:
    """min(T, H) with a time that never came (NaN) counted as H."""
    return values.fillna(horizon).clip(max=horizon)


def km_median(times: np.ndarray, horizon: float, confidence: float = 0.95
              ) -> tuple[float, float, float]:
    """The median of times censored at ``horizon`` (NaN or inf = not by the horizon) and its
    Kaplan-Meier confidence interval (lifelines); inf where most runs never get there.

    The point estimate is the sample median with every censored time counted as +inf: with all
    censoring at the horizon it is the Kaplan-Meier median (up to the convention when the
    curve sits at exactly 1/2), and it is the number plain xarray, pandas or R give on the
    cube, where a time never reached is stored as +inf."""
    times = np.asarray(times, float)
    if times.size == 0:
        return math.nan, math.nan, math.nan
    observed = np.isfinite(times) & (times <= horizon)
    median = float(np.median(np.where(observed, times, np.inf)))
    if not observed.any():
        return math.inf, math.inf, math.inf
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    durations = np.where(observed, times, horizon)
    fitter = KaplanMeierFitter(alpha=1.0 - confidence).fit(durations, observed)
    bounds = median_survival_times(fitter.confidence_interval_)
    low, high = (float(x) for x in np.asarray(bounds, float).ravel()[:2])
    return median, low, high


def km_medians(values: xr.DataArray, horizon: float, confidence: float) -> xr.Dataset:
    """Kaplan-Meier median, low and high along ``replicate`` for every other index."""
    stacked = xr.apply_ufunc(
        lambda t: np.array(km_median(t, horizon, confidence)), values.load(),
        input_core_dims=[["replicate"]], output_core_dims=[["_stat"]], vectorize=True)
    return xr.Dataset({"median": stacked.isel(_stat=0), "low": stacked.isel(_stat=1),
                       "high": stacked.isel(_stat=2)})
