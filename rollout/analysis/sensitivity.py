"""Which swept factors decide the paired difference between a strategy and the baseline.

The response at each design point is the mean paired difference of a metric (strategy minus
baseline, over replicates; see compare.py). For a Sobol design (Saltelli-structured, see
experiment/designs.py) SALib estimates first-order and total Sobol indices with bootstrap
intervals. For grid and Latin hypercube designs a simpler ranking: Spearman's rank correlation
between each parameter and the response. Its interval respects the design (clustering.py): a
bootstrap over the sampled points, each resampled with all its rows. Where sampled points are
crossed with switches (each point run under several model structures) n rows are far fewer than n
independent draws, and a switch that changes nothing must not narrow the interval: resampling
whole points makes the interval of a doubled design exactly that of the plain one. (Where every
design point is its own sampled point this is the ordinary bootstrap.) The naive Fisher-z
interval (every row independent) is kept beside it, labelled, so a reader sees what the
clustering changed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import RolloutError
from ..experiment.names import config_field
from .clustering import (
    RESAMPLES,
    clustering_of,
    point_clusters,
    spearman_cluster_interval,
    spearman_fisher_interval,
    varying_switches,
)
from .compare import check_baseline, compare, design_dims
from .design_table import design_frame


@dataclass
class Sensitivity:
    parameter: str
    method: str              # "sobol" or "spearman"
    index: float             # S1, or rho
    low: float
    high: float
    total: float | None      # ST for Sobol
    total_low: float | None
    total_high: float | None
    naive_low: float | None = None       # Fisher z counting every row as independent
    naive_high: float | None = None
    interval: str = ""                   # which interval (and clustering) low/high are


def _config(cube: xr.Dataset) -> dict:
    return json.loads(cube.attrs.get("config", "{}"))


def sensitivity(cube: xr.Dataset, metric: str = "net_benefit", baseline: str = "big_bang",
                strategy: str | None = None, confidence: float = 0.95,
                resamples: int = RESAMPLES, seed: int = 0
                ) -> tuple[list[Sensitivity], int, int]:
    """Indices of every swept parameter; also the points used and the points left out (NaN).
    ``resamples`` and ``seed``: the cluster bootstrap of Spearman intervals (used when sampled
    points are crossed with switches)."""
    dims = design_dims(cube)
    if not dims or dims == ["scenario"]:
        raise RolloutError("sensitivity needs a cube swept over parameters (grid, lhs or sobol)")
    strategies = check_baseline(cube, baseline)
    strategy = strategy or next(s for s in strategies if s != baseline)
    check_baseline(cube, strategy)
    if strategy == baseline:
        raise RolloutError("the strategy and the baseline are the same")
    result = compare(cube, baseline, metrics=(metric,), confidence=confidence)
    # times: the restricted difference, defined for every point (survival.py)
    name = f"rdiff_{metric}" if f"rdiff_{metric}" in result else f"diff_{metric}"
    response = result[name].sel(strategy=strategy)
    sweep = _config(cube).get("sweep") or {}
    design = sweep.get("design", "grid")
    if design == "sobol":      # Saltelli columns are in sorted path order (designs.build_design)
        params = sorted(config_field(n) for n, c in cube.coords.items()
                        if c.dims == ("point",) and n != "point")
        y = np.asarray(response.values, float)
        left_out = int(np.isnan(y).sum())
        if left_out:
            raise RolloutError(f"{left_out} design points have no finite {metric} difference "
                               "(no replicate pair reached it); Sobol indices need every point: "
                               "use net_benefit or harm_total")
        return _sobol(cube, params, sweep, y, confidence), len(y), 0
    # every design point (a Latin hypercube may be crossed with factors such as switches):
    # numeric and boolean parameters, scenarios left out
    frame, _ = design_frame(cube)
    params = [c for c in frame.columns if frame[c].dtype.kind in "fiub"]
    table = {p: frame[p].to_numpy().astype(float) for p in params}
    y = np.asarray(response.transpose(*dims).values, float).ravel()
    keep = np.isfinite(y)
    groups = point_clusters(cube, frame, dims)[keep]
    how = clustering_of(groups, varying_switches(cube, dims))
    interval = (f"cluster bootstrap over {how.describe()} ({resamples} resamples, seed "
                f"{seed}; Fisher z of the resamples, t with {how.clusters - 1} df)")
    out = []
    n = int(keep.sum())
    for p in params:
        x = table[p][keep]
        if n < 4 or np.ptp(x) == 0 or np.ptp(y[keep]) == 0:
            out.append(Sensitivity(p, "spearman", math.nan, math.nan, math.nan, None, None, None,
                                   None, None, interval))
            continue
        rho, naive_low, naive_high = spearman_fisher_interval(x, y[keep], confidence)
        _, low, high = spearman_cluster_interval(x, y[keep], groups, confidence, resamples,
                                                 seed)
        out.append(Sensitivity(p, "spearman", rho, low, high, None, None, None, naive_low,
                               naive_high, interval))
    out.sort(key=lambda s: -abs(s.index) if math.isfinite(s.index) else 0.0)
    return out, n, int((~keep).sum())


def _sobol(cube: xr.Dataset, params: list[str], sweep: dict, y: np.ndarray,
           confidence: float) -> list[Sensitivity]:
    from SALib.analyze import sobol

    bounds = []
    for p in params:
        spec = sweep["parameters"][p]
        bounds.append([spec["low"], spec["high"]])
    problem = {"num_vars": len(params), "names": params, "bounds": bounds}
    res = sobol.analyze(problem, y, calc_second_order=False, conf_level=confidence,
                        seed=int(_config(cube).get("seed", 0)) % 2**32, print_to_console=False)
    out = [Sensitivity(p, "sobol", float(res["S1"][i]), float(res["S1"][i] - res["S1_conf"][i]),
                       float(res["S1"][i] + res["S1_conf"][i]), float(res["ST"][i]),
                       float(res["ST"][i] - res["ST_conf"][i]),
                       float(res["ST"][i] + res["ST_conf"][i]),
                       interval="SALib's bootstrap over the Saltelli design's base samples")
           for i, p in enumerate(params)]
    out.sort(key=lambda s: -(s.total or 0.0))
    return out


def format_sensitivity(rows: list[Sensitivity], metric: str, strategy: str, baseline: str,
                       used: int, left_out: int, confidence: float = 0.95) -> str:
    pct = f"{confidence:.0%}"
    lines = [f"sensitivity of the mean paired difference in {metric} ({strategy} - {baseline}) "
             f"over {used} design points" + (f" ({left_out} left out: no finite difference)"
                                             if left_out else "")]
    if rows and rows[0].method == "sobol":
        lines.append(f"{'parameter':<36} {'first-order S1 (' + pct + ' CI)':<30} "
                     f"total ST ({pct} CI)")
        for r in rows:
            lines.append(f"{r.parameter:<36} {r.index:+.3f} [{r.low:+.3f}, {r.high:+.3f}]"
                         f"{'':<6} {r.total:+.3f} [{r.total_low:+.3f}, {r.total_high:+.3f}]")
        lines.append(f"interval: {rows[0].interval}")
    else:
        clustered = bool(rows) and "clusters:" in rows[0].interval
        lines.append((f"{'parameter':<36} {'Spearman rho (' + pct + ' CI)':<30}"
                      + (" naive CI (rows as independent)" if clustered else "")).rstrip())
        for r in rows:
            cell = "n/a (constant)" if not math.isfinite(r.index) else \
                f"{r.index:+.3f} [{r.low:+.3f}, {r.high:+.3f}]" if math.isfinite(r.low) else \
                f"{r.index:+.3f} (no interval: under 4 sampled points)"
            naive = f"[{r.naive_low:+.3f}, {r.naive_high:+.3f}]" if clustered and \
                r.naive_low is not None and math.isfinite(r.index) else ""
            lines.append(f"{r.parameter:<36} {cell:<30} {naive}".rstrip())
        if rows:
            lines.append(f"interval: {rows[0].interval}")
    return "\n".join(lines)
