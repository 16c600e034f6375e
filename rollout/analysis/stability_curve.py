"""Stable first across harm thresholds, and the long-run floor that decides it.

"Stable first" compares t_stable, whose harm condition is a share of the benefit rate. A
strategy whose harm rate settles above a threshold for good is never stable at it, so the share
of replicates in which a design is stable first is a curve over thresholds, and at each it is
the sum of two different statements: both designs became stable and this one strictly earlier
(``earlier``), or this one became stable and the baseline never did (``baseline_never``). The
floor is the harm-to-benefit rate ratio at the horizon, the harm that has not gone away.

Cubes written since issue 21 store ``t_stable_at`` (one t_stable per threshold, exact as
t_stable is) and the two rates at the horizon. An older cube gives the curve at its one
threshold (``t_stable``), and the floor from the last grid step of its cumulative series (the
ratio of the step's mean rates, not the rates at the horizon).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .paired import share_interval


def stable_times(cube: xr.Dataset) -> tuple[xr.DataArray, bool]:
    """(t_stable by ``stable_threshold``, True if the cube stores the curve). NaN and +inf are
    both 'never'."""
    if "t_stable_at" in cube:
        return cube["t_stable_at"].astype(float), True
    share = json.loads(cube.attrs.get("config", "{}")).get("outcomes", {}).get(
        "stable_harm_share", 0.05)
    return cube["t_stable"].astype(float).expand_dims(stable_threshold=[float(share)], axis=-1), \
        False


def stable_first_curve(cube: xr.Dataset, baseline: str, confidence: float) -> xr.Dataset:
    """Per strategy and threshold: stable_first (with Wilson bounds), its two parts, and the
    share of the strategy's replicates that ever become stable."""
    t, stored = stable_times(cube)
    mine = t.fillna(np.inf)
    theirs = mine.sel(strategy=baseline)
    n = cube.sizes["replicate"]
    finite_mine, finite_theirs = np.isfinite(mine), np.isfinite(theirs)
    out = xr.Dataset()
    share, low, high = share_interval((mine < theirs).sum("replicate"), n, confidence)
    out["stable_first"], out["stable_first_low"], out["stable_first_high"] = share, low, high
    out["earlier"] = (finite_theirs & (mine < theirs)).sum("replicate") / n
    out["baseline_never"] = (finite_mine & ~finite_theirs).sum("replicate") / n
    out["stable_reached"] = finite_mine.sum("replicate") / n
    out.attrs.update(stored=int(stored), baseline=baseline)
    return out.compute()


def floor_ratio(cube: xr.Dataset) -> tuple[xr.DataArray, bool]:
    """(harm-to-benefit rate ratio at the horizon per run, True if from the stored rates).
    NaN where no benefit flows at the horizon."""
    if "end_harm_rate" in cube and "end_benefit_rate" in cube:
        harm, benefit, exact = cube["end_harm_rate"], cube["end_benefit_rate"], True
    else:
        last = {name: cube[name].sum("province").isel(time=[-2, -1]).diff("time")
                .isel(time=0, drop=True) for name in ("harm", "benefit")}
        harm, benefit, exact = last["harm"], last["benefit"], False
    ratio = (harm / benefit.where(benefit > 0)).drop_vars(
        [c for c in ("time", "month") if c in harm.coords], errors="ignore")
    return ratio, exact


def floor_summary(cube: xr.Dataset) -> xr.Dataset:
    """Median floor ratio per strategy, and the share of runs whose floor is above each
    threshold (those runs can never be stable at it)."""
    ratio, exact = floor_ratio(cube)
    t, _ = stable_times(cube)
    thresholds = t["stable_threshold"]
    out = xr.Dataset({"floor_median": ratio.median("replicate"),
                      "floor_above": (ratio > thresholds).mean("replicate")})
    out.attrs["floor_exact"] = int(exact)
    return out.compute()
