"""Downside risk, not only means: what He (2023) says piloting is for, minimising uncertainty.

Per strategy, over replicates (numpy's default, linearly interpolated quantiles; ES_a is the
mean of the ceil(a n) lowest values, so with 20 replicates ES_5% is the single worst run):

- ``q05``, ``q10`` and ``es05``, ``es10``: the 5% and 10% quantiles of net benefit and its
  expected shortfall; the same of the paired difference against the baseline (``dq05``, ...);
- ``p_below``: the share of replicates ending more than ``margin`` benefit units below the
  baseline's net benefit (same replicate), with its Wilson interval;
- ``p_pause``: the share of runs in which the centre paused the reform at least once (the
  legitimacy mechanism's ``halted`` series; absent from cubes without it);
- ``p_unpaid``: the share of runs in which some province pays nothing at the horizon (the
  cube's resolution is the province: a region never paying inside a paying province is not
  seen).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from .paired import share_interval

LEVELS = (0.05, 0.10)


def shortfall(values: np.ndarray, level: float) -> float:
    """Mean of the ceil(level n) lowest finite values (NaN if none)."""
    v = np.sort(np.asarray(values, float)[np.isfinite(values)])
    if v.size == 0:
        return math.nan
    return float(v[:max(1, math.ceil(level * v.size))].mean())


def _along(values: xr.DataArray, fn) -> xr.DataArray:
    return xr.apply_ufunc(fn, values.load(), input_core_dims=[["replicate"]], vectorize=True)


def risk(cube: xr.Dataset, baseline: str, margin: float, confidence: float,
         metric: str = "net_benefit") -> xr.Dataset:
    """The measures above for every strategy (and design point)."""
    own = cube[metric].astype(float).load()
    d = own - own.sel(strategy=baseline)
    n = cube.sizes["replicate"]
    out = xr.Dataset()
    for level in LEVELS:
        tag = f"{round(level * 100):02d}"
        out[f"q{tag}"] = own.quantile(level, "replicate").drop_vars("quantile")
        out[f"es{tag}"] = _along(own, lambda v, lv=level: shortfall(v, lv))
        out[f"dq{tag}"] = d.quantile(level, "replicate").drop_vars("quantile")
        out[f"des{tag}"] = _along(d, lambda v, lv=level: shortfall(v, lv))
    p, low, high = share_interval((d < -margin).sum("replicate"), n, confidence)
    out["p_below"], out["p_below_low"], out["p_below_high"] = p, low, high
    if "halted" in cube:
        out["p_pause"] = (cube["halted"] > 0).any("time").sum("replicate") / n
    if "coverage" in cube:
        out["p_unpaid"] = (cube["coverage"].isel(time=-1) <= 0).any("province").sum(
            "replicate").drop_vars([c for c in ("time", "month")
                                    if c in cube.coords], errors="ignore") / n
    out.attrs.update(margin=margin, baseline=baseline, metric=metric)
    return out.compute()
