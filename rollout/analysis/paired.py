"""Paired statistics along ``replicate`` shared by the outcome modules: a mean with its t
interval, and a share with its Wilson interval (the conventions of compare.py)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats


def mean_interval(d: xr.DataArray, confidence: float) -> tuple[xr.DataArray, ...]:
    """Mean of ``d`` over replicates (NaN left out) with its t interval (NaN for one pair);
    ``d`` is a reduced outcome (no time axis), loaded here."""
    d = d.load()
    ok = d.notnull()
    n = ok.sum("replicate").astype(float)
    mean = d.where(ok).sum("replicate") / n.where(n > 0)
    sd = d.std("replicate", ddof=1, skipna=True)
    tq = xr.apply_ufunc(lambda k: stats.t.ppf(0.5 + confidence / 2, np.maximum(k - 1, 1)), n)
    half = (tq * sd / np.sqrt(n)).where(n > 1)
    return mean, mean - half, mean + half


def share_interval(hits: xr.DataArray, n: int, confidence: float) -> tuple[xr.DataArray, ...]:
    """Share hits / n with its Wilson interval."""
    from .compare import wilson

    hits = hits.load()
    low, high = wilson(hits.values, n, confidence)
    return hits / n, hits.copy(data=low), hits.copy(data=high)
