"""The 'slower is faster' phase map: where a strategy reaches stable coverage first, drawn as what
the design is.

- A grid design is drawn on its own axes: one cell per design point, ticks at the swept values
  (the axes never run past the design), the share in each cell, and the 0.5 contour.
- Scattered designs (Latin hypercube, Sobol) are drawn as points, each coloured by its share
  and ringed in black when its Wilson interval excludes 0.5, over a smoothed surface: the share
  pooled over the replicates of the points in each cell of a coarse grid (log-spaced for
  parameters swept on a log scale), hatched where that pooled interval still contains 0.5 and
  left blank where a cell holds no point. Nothing is interpolated between points. A cell's runs
  are not independent: replicate i is the same world at every point, and the cell's points are
  a few draws of the parameters. So the pooled interval resamples the cell's points and the
  replicate worlds independently (the two-way bootstrap of clustering.pooled_mean, the same
  resampled worlds at every point, seed 0); a cell of one point takes that point's Wilson
  interval (its replicates are independent worlds).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ..errors import RolloutError
from ..experiment.names import config_field, stored_name
from .clustering import pooled_mean
from .compare import check_baseline, compare, cube_name, design_dims, wilson

CMAP = "RdBu"


def design_parameters(cube: xr.Dataset, dims: list[str]) -> list[str]:
    """Numeric swept parameters of a cube."""
    if "point" in dims:              # sampled parameters (factor dimensions are fixed by --at)
        return [n for n, c in cube.coords.items() if c.dims == ("point",) and n != "point"
                and np.issubdtype(c.dtype, np.number)]
    return [d for d in dims if d != "scenario" and np.issubdtype(cube[d].dtype, np.number)]


def plot_phase(cube: xr.Dataset, strategy: str | None = None, baseline: str = "big_bang",
               x: str | None = None, y: str | None = None,
               at: Mapping[str, Any] | None = None, caption=None, index_of=None) -> Figure:
    """Over two swept parameters: the share of replicates in which ``strategy`` reaches stable
    coverage before ``baseline`` (blue: the slower design first), with the 0.5 line."""
    dims = design_dims(cube)
    params = design_parameters(cube, dims)
    if len(params) < 2:
        have = f"only {', '.join(map(config_field, params))}" if params else "none"
        raise RolloutError("a phase plot needs a cube swept over at least two numeric "
                           f"parameters (this one has {have})")
    x = cube_name(cube, x) if x else params[0]
    y = cube_name(cube, y) if y else params[1]
    for name in (x, y):
        if name not in params:
            raise RolloutError(f"{config_field(name)!r} is not a swept parameter "
                               f"({', '.join(map(config_field, params))})")
    strategies = check_baseline(cube, baseline)
    strategy = strategy or next(s for s in strategies if s != baseline)
    if strategy not in strategies:
        raise RolloutError(f"strategy {strategy!r} is not in the cube ({', '.join(strategies)})")
    at = {cube_name(cube, name): value for name, value in (at or {}).items()}
    for name in at:
        if name not in dims:
            raise RolloutError(f"--at {config_field(name)}: not a design dimension of the "
                               f"cube ({', '.join(map(config_field, dims))})")
    fig = Figure(figsize=(7.5, 5.8), layout="constrained")
    ax = fig.add_subplot()
    if "point" in dims:
        sub, fixed = cube, ""
        others = [d for d in dims if d != "point"]       # factors crossed with the samples
        if others:
            sel = {d: 0 if d not in (at or {}) else index_of(cube, d, at[d]) for d in others}
            sub = cube.isel(sel)
            fixed = ", ".join(f"{config_field(d)}={cube[d].values[i]}"
                              for d, i in sel.items()) + "; "
        mesh, label = _scattered(ax, sub, strategy, baseline, x, y)
        label = fixed + label
    else:
        mesh, label = _grid(ax, cube, strategy, baseline, x, y, dims, at or {}, index_of)
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_label(f"share of replicates where {strategy} is stable before {baseline}")
    ax.set_xlabel(config_field(x))
    ax.set_ylabel(config_field(y))
    ax.set_title(f"Where slower is faster: {strategy} vs {baseline}"
                 + (" (black line: 0.5)" if "point" not in dims else ""))
    if caption is not None:
        caption(fig, cube, label)
    return fig


def _grid(ax, cube, strategy, baseline, x, y, dims, at, index_of):
    """A grid design: cells at the design's own values, indexed axes labelled with them."""
    others = [d for d in dims if d not in (x, y)]
    sub, label = cube, ""
    if others:
        sel = {d: 0 if d not in at else index_of(cube, d, at[d]) for d in others}
        sub = cube.isel(sel)
        label = ", ".join(f"{config_field(d)}={cube[d].values[i]}" for d, i in sel.items())
    share = compare(sub, baseline, metrics=("t_stable",))["stable_first"].sel(
        strategy=strategy).transpose(y, x).values
    xs, ys = np.asarray(cube[x].values, float), np.asarray(cube[y].values, float)
    mesh = ax.pcolormesh(np.arange(len(xs) + 1) - 0.5, np.arange(len(ys) + 1) - 0.5, share,
                         cmap=CMAP, vmin=0, vmax=1)
    if share.min() < 0.5 < share.max() and len(xs) > 1 and len(ys) > 1:
        ax.contour(np.arange(len(xs)), np.arange(len(ys)), share, levels=[0.5],
                   colors="black", linewidths=1.5)
    ax.set_xticks(np.arange(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(np.arange(len(ys)), [_tick(v) for v in ys])
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(-0.5, len(ys) - 0.5)
    ax.legend(handles=[Patch(color="#2166ac", label=f"{strategy} stable first"),
                       Patch(color="#b2182b", label=f"{baseline} stable first")],
              loc="upper right", fontsize=8)
    return mesh, label


def _scattered(ax, cube, strategy, baseline, x, y):
    """Scattered points with their own shares, over a binned (pooled) estimate."""
    result = compare(cube, baseline, metrics=("t_stable",)).sel(strategy=strategy)
    share = np.asarray(result["stable_first"].values, float)
    low = np.asarray(result["stable_first_low"].values, float)
    high = np.asarray(result["stable_first_high"].values, float)
    reps = int(cube.sizes["replicate"])
    xs, ys = np.asarray(cube[x].values, float), np.asarray(cube[y].values, float)
    logs = _log_parameters(cube)
    bins = max(2, int(round(math.sqrt(len(xs) / 8))))
    ex, ey = _edges(xs, bins, x in logs), _edges(ys, bins, y in logs)
    wins = np.zeros((bins, bins))
    runs = np.zeros((bins, bins))
    ix = np.clip(np.searchsorted(ex, xs, side="right") - 1, 0, bins - 1)
    iy = np.clip(np.searchsorted(ey, ys, side="right") - 1, 0, bins - 1)
    np.add.at(wins, (iy, ix), share * reps)
    np.add.at(runs, (iy, ix), reps)
    pooled = np.where(runs > 0, wins / np.maximum(runs, 1), np.nan)
    plow, phigh = _two_way_cells(_first_by_replicate(cube, strategy, baseline), ix, iy, bins)
    mesh = ax.pcolormesh(ex, ey, np.ma.masked_invalid(pooled), cmap=CMAP, vmin=0, vmax=1,
                         alpha=0.55)
    unsure = (runs > 0) & ~((plow > 0.5) | (phigh < 0.5))       # no interval: unsure
    if unsure.any():
        ax.pcolor(ex, ey, np.ma.masked_where(~unsure, np.ones_like(pooled)), hatch="///",
                  alpha=0.0, edgecolor="#444444", linewidth=0.0)
    sure = (low > 0.5) | (high < 0.5)
    ax.scatter(xs[~sure], ys[~sure], c=share[~sure], cmap=CMAP, vmin=0, vmax=1, s=22,
               edgecolors="#888888", linewidths=0.4)
    ax.scatter(xs[sure], ys[sure], c=share[sure], cmap=CMAP, vmin=0, vmax=1, s=30,
               edgecolors="black", linewidths=1.2)
    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    for name, set_scale, axis in ((x, ax.set_xscale, ax.xaxis), (y, ax.set_yscale, ax.yaxis)):
        if name in logs:
            set_scale("log")
            axis.set_major_formatter(plain)        # 0.3, not 3 x 10^-1
            axis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.set_xlim(ex[0], ex[-1])
    ax.set_ylim(ey[0], ey[-1])
    ax.legend(handles=[
        Line2D([], [], marker="o", ls="", mfc="#dddddd", mec="black", mew=1.2,
               label="design point, interval excludes 0.5"),
        Line2D([], [], marker="o", ls="", mfc="#dddddd", mec="#888888", mew=0.4,
               label="design point, interval contains 0.5"),
        Patch(facecolor="white", edgecolor="#444444", hatch="///",
              label=f"cell ({bins} x {bins}; two-way bootstrap over its points and "
                    "replicate worlds): interval contains 0.5")],
        loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=7, frameon=False)
    label = f"{len(xs)} design points x {reps} replicates; 95% Wilson intervals"
    return mesh, label


def _first_by_replicate(cube: xr.Dataset, strategy: str, baseline: str) -> np.ndarray:
    """(point, replicate): 1 where the strategy reaches stable coverage strictly before the
    baseline ('never' ranks after any time), as compare.py counts it."""
    times = cube["t_stable"].astype(float).fillna(np.inf)
    first = times.sel(strategy=strategy) < times.sel(strategy=baseline)
    return np.asarray(first.transpose("point", "replicate").values, float)


def _two_way_cells(first: np.ndarray, ix: np.ndarray, iy: np.ndarray, bins: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """95% bounds of each cell's pooled share: a two-way bootstrap over the cell's points and
    the replicate worlds; a cell of one point, that point's Wilson interval; NaN where empty."""
    low = np.full((bins, bins), np.nan)
    high = np.full((bins, bins), np.nan)
    reps = first.shape[1]
    for cy, cx in {(int(a), int(b)) for a, b in zip(iy, ix, strict=True)}:
        members = np.flatnonzero((iy == cy) & (ix == cx))
        if len(members) == 1:
            lo, hi = wilson(np.array([first[members[0]].sum()]), reps, 0.95)
            low[cy, cx], high[cy, cx] = float(lo[0]), float(hi[0])
            continue
        cell = pooled_mean(first[members], np.arange(len(members)), 0.95, 1000, seed=0)
        low[cy, cx], high[cy, cx] = cell.low, cell.high
    return low, high


def _edges(values: np.ndarray, bins: int, log: bool) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if log and lo > 0:
        return np.geomspace(lo, hi, bins + 1)
    return np.linspace(lo, hi, bins + 1)


def _log_parameters(cube: xr.Dataset) -> set[str]:
    sweep = (json.loads(cube.attrs.get("config", "{}")).get("sweep") or {})
    return {spelling for name, spec in (sweep.get("parameters") or {}).items()
            if isinstance(spec, dict) and spec.get("log")
            for spelling in (name, stored_name(name))}      # as the config and the cube say


def _minor_label(value: float, _pos=None) -> str:
    """Label the 1, 2 and 5 of each decade on a log axis (0.1, 0.2, 0.5, 10, 20, 50)."""
    if value <= 0:
        return ""
    lead = round(value / 10 ** math.floor(math.log10(value)), 6)
    return f"{value:g}" if lead in (1.0, 2.0, 5.0) else ""


def _tick(value: float) -> str:
    return f"{value:.3g}"
