"""Figures of issue 21's outcomes: when a strategy's cumulative net benefit catches up with the
baseline's (``plot --kind overtake``), and stable first against the harm threshold
(``plot --kind stable-curve``). Same conventions as figures.py: no pyplot, a caption naming the
config, its hash, the seed and the design point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .compare import check_baseline
from .figures import TIME_LABEL, _caption, _dates, select_point
from .overtake import net_difference, overtake_times
from .paired import mean_interval
from .stability_curve import floor_ratio, stable_first_curve


def plot_overtake(cube: xr.Dataset, baseline: str = "big_bang",
                  at: Mapping[str, Any] | None = None, confidence: float = 0.95) -> Figure:
    """Cumulative national net benefit minus the baseline's, per strategy: the mean paired
    difference with its t interval (dark band) and the 5-95% range over replicates (light),
    and a dotted line at the Kaplan-Meier median t_overtake where most runs overtake."""
    names = check_baseline(cube, baseline)
    point, label = select_point(cube, at)
    d = net_difference(point, baseline).load()
    t = overtake_times(point, baseline).load()
    x = _dates(cube)
    months = np.asarray(cube["month"].values, float)
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot()
    mean, low, high = mean_interval(d, confidence)
    for k, s in enumerate(s for s in names if s != baseline):
        colour = f"C{k}"
        lo, hi = np.nanpercentile(d.sel(strategy=s).values, [5, 95], axis=0)
        ax.fill_between(x, lo, hi, color=colour, alpha=0.10, lw=0)
        ax.fill_between(x, low.sel(strategy=s).values, high.sel(strategy=s).values,
                        color=colour, alpha=0.30, lw=0)
        times = np.sort(t.sel(strategy=s).values)
        median = float(np.median(times))        # inf counted as inf: the Kaplan-Meier median
        reached = int(np.isfinite(times).sum())
        text = (f"{s}: overtakes at month {median:.0f} (median; {reached}/{times.size} runs)"
                if np.isfinite(median) else f"{s}: most runs never overtake "
                                            f"({reached}/{times.size} do)")
        ax.plot(x, mean.sel(strategy=s).values, color=colour, lw=1.8, label=text)
        if np.isfinite(median):
            ax.axvline(x[int(np.argmin(np.abs(months - median)))], color=colour, ls=":", lw=1.2)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(f"cumulative net benefit minus {baseline}'s (benefit units)")
    ax.set_title(f"Catching up with {baseline}: mean paired difference ({confidence:.0%} CI, "
                 "dark) and 5-95% of replicates (light)")
    ax.legend(loc="lower left", fontsize=8)
    _caption(fig, cube, label)
    return fig


def plot_stable_curve(cube: xr.Dataset, baseline: str = "big_bang",
                      at: Mapping[str, Any] | None = None, confidence: float = 0.95) -> Figure:
    """Share of replicates stable first against the harm threshold, with its Wilson band, split
    into 'both stable, strictly earlier' (dashed) and 'baseline never stable' (dotted); ticks
    on the axis mark each strategy's median long-run floor (harm/benefit rate at the horizon)."""
    names = check_baseline(cube, baseline)
    point, label = select_point(cube, at)
    curve = stable_first_curve(point, baseline, confidence)
    floor = floor_ratio(point)[0].load()
    k_values = np.asarray(curve["stable_threshold"].values, float)
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    for k, s in enumerate(names):
        colour = f"C{k}"
        median_floor = float(floor.sel(strategy=s).median())
        if np.isfinite(median_floor):
            ax.plot([median_floor], [0.0], marker="^", color=colour, ms=9, clip_on=False,
                    ls="none", label=f"{s}: median floor {median_floor:.3g}")
        if s == baseline:
            continue
        c = curve.sel(strategy=s)
        ax.fill_between(k_values, c["stable_first_low"].values, c["stable_first_high"].values,
                        color=colour, alpha=0.2, lw=0)
        ax.plot(k_values, c["stable_first"].values, color=colour, marker="o",
                label=f"{s}: stable first")
        ax.plot(k_values, c["earlier"].values, color=colour, ls="--",
                label=f"{s}: both stable, strictly earlier")
        ax.plot(k_values, c["baseline_never"].values, color=colour, ls=":",
                label=f"{s}: {baseline} never stable")
    ax.set_xlabel("harm threshold of stability (share of the benefit rate)")
    ax.set_ylabel(f"share of replicates (against {baseline})")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Stable first by threshold ({confidence:.0%} Wilson band)")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    _caption(fig, cube, label)
    return fig
