"""Differences pooled over a sweep's design points, with intervals that respect its design.

``compare --summary`` summarises a sweep across its points. A mean paired difference pooled over
every (design point, replicate) cell has two kinds of shared noise: the rows of one sampled point
run under several switch combinations share its parameters, and every point runs the same
replicate worlds (common random numbers). Its interval therefore resamples sampled points and
replicate worlds independently (clustering.pooled_mean); the naive t interval, counting every
cell as independent, is printed beside it, labelled, for comparison.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .clustering import (
    RESAMPLES,
    clustering_of,
    point_clusters,
    pooled_mean,
    pooled_naive,
    varying_switches,
)
from .compare import check_baseline, design_dims
from .design_table import design_frame
from .survival import horizon_of, restricted
from .text_table import text_table

#: (label, cube variable, kind): what is pooled
QUANTITIES = (("d t_full (restricted, months)", "t_full", "time"),
              ("d t_stable (restricted, months)", "t_stable", "time"),
              ("d net_benefit", "net_benefit", "value"),
              ("stable first (share of runs)", "t_stable", "first"))
#: each quantity's short name in records (compare --summary --format csv|json)
QUANTITY_KEYS = {"d t_full (restricted, months)": "d_t_full",
                 "d t_stable (restricted, months)": "d_t_stable",
                 "d net_benefit": "d_net_benefit",
                 "stable first (share of runs)": "stable_first"}


def _cells(cube: xr.Dataset, var: str, kind: str, strategy: str, baseline: str,
           dims: list[str], horizon: float) -> np.ndarray:
    """(design point, replicate) array of the paired quantity, points in design-table order."""
    values = cube[var].astype(float)
    if kind == "time":
        r = restricted(values.where(values <= horizon), horizon)
        d = r.sel(strategy=strategy) - r.sel(strategy=baseline)
    elif kind == "first":
        mine = values.fillna(np.inf)
        d = (mine.sel(strategy=strategy) < mine.sel(strategy=baseline)).astype(float)
    else:
        d = values.sel(strategy=strategy) - values.sel(strategy=baseline)
    array = np.asarray(d.transpose(*dims, "replicate").values, float)
    return array.reshape(-1, array.shape[-1])


def pooled_differences(cube: xr.Dataset, baseline: str, confidence: float = 0.95,
                       resamples: int = RESAMPLES, seed: int = 0) -> tuple[list[dict], str]:
    """Per strategy and quantity: the mean over every design point and replicate, its two-way
    cluster interval and the naive one; also a description of the clustering."""
    strategies = check_baseline(cube, baseline)
    dims = design_dims(cube)
    frame, dims = design_frame(cube)
    groups = point_clusters(cube, frame, dims)
    horizon = horizon_of(cube)
    rows = []
    for s in strategies:
        if s == baseline:
            continue
        for label, var, kind in QUANTITIES:
            if var not in cube:
                continue
            cells = _cells(cube, var, kind, s, baseline, dims, horizon)
            p = pooled_mean(cells, groups, confidence, resamples, seed)
            _, naive_low, naive_high = pooled_naive(cells, confidence)
            rows.append({"strategy": s, "quantity": label, "mean": p.mean, "low": p.low,
                         "high": p.high, "naive_low": naive_low, "naive_high": naive_high})
    how = clustering_of(groups, varying_switches(cube, dims))
    text = (f"two-way cluster bootstrap: {how.describe()}, crossed with "
            f"{cube.sizes['replicate']} replicate worlds shared by every point ({resamples} "
            f"resamples, seed {seed}; percentile interval)")
    return rows, text


def format_pooled(rows: list[dict], clustering: str, baseline: str, confidence: float) -> str:
    pct = f"{confidence:.0%}"
    header = ["strategy", "pooled over every point and replicate", f"mean ({pct} cluster CI)",
              "naive CI (cells as independent)"]
    table = [header]
    for r in rows:
        table.append([r["strategy"], r["quantity"],
                      f"{r['mean']:+.3g} [{r['low']:+.3g}, {r['high']:+.3g}]",
                      f"[{r['naive_low']:+.3g}, {r['naive_high']:+.3g}]"])
    lines = text_table(table)
    lines.append(f"pooled against {baseline}; interval: {clustering}. The naive interval "
                 "counts every (point, replicate) cell as independent and is shown for "
                 "comparison only. A pooled mean describes the sweep's design (its ranges and "
                 "switches), not a population")
    return "\n".join(lines)
