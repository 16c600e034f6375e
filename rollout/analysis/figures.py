"""Figures of a cube: coverage, harm, stages, the 'slower is faster' phase map, versions.

Every function returns a matplotlib Figure (made without pyplot, so no global state and any
backend), with a title, axis labels with units, a legend, and a caption naming the config, its
hash, the seed and the design point shown. ``save`` writes PNG, SVG or PDF by the extension.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..errors import RolloutError
from ..experiment.names import config_field
from .compare import check_baseline, cube_name, design_dims

KINDS = ("coverage", "harm", "stages", "phase", "versions", "sensitivity", "overtake",
         "stable-curve")
FORMATS = (".png", ".svg", ".pdf")
STAGE_COLOURS = ("#d9d9d9", "#fdb863", "#e08214", "#b35806", "#80cdc1", "#018571", "#d7191c")


def select_point(cube: xr.Dataset, at: Mapping[str, Any] | None) -> tuple[xr.Dataset, str]:
    """The cube at one design point (``at`` names values; unnamed dims take their first)."""
    dims = design_dims(cube)
    at = {cube_name(cube, name): value for name, value in (at or {}).items()}
    for name in at:
        if name not in dims:
            raise RolloutError(f"--at {config_field(name)}: not a design dimension of the "
                               f"cube ({', '.join(map(config_field, dims)) or 'it has none'})")
    chosen = {}
    for d in dims:
        chosen[d] = _index_of(cube, d, at[d]) if d in at else 0
    point = cube.isel(chosen)
    label = ", ".join(f"{config_field(d)}={point[d].values.item()}" for d in dims)
    return point, label


def check_strategy(cube: xr.Dataset, name: str) -> None:
    strategies = [str(s) for s in cube["strategy"].values]
    if name not in strategies:
        raise RolloutError(f"strategy {name!r} is not in the cube ({', '.join(strategies)})")


def check_replicate(cube: xr.Dataset, replicate: int) -> None:
    if not 0 <= replicate < cube.sizes["replicate"]:
        raise RolloutError(f"replicate {replicate}: the cube has replicates 0.."
                           f"{cube.sizes['replicate'] - 1}")


def _index_of(cube: xr.Dataset, dim: str, want: Any) -> int:
    hits = [i for i, v in enumerate(cube[dim].values) if _same(v, want)]
    if not hits:
        raise RolloutError(f"--at {config_field(dim)}={want}: not one of its values "
                           f"({', '.join(map(str, cube[dim].values))})")
    return hits[0]


def _same(value: Any, want: Any) -> bool:
    try:
        return bool(np.isclose(float(value), float(want)))
    except (TypeError, ValueError):
        return str(value) == str(want)


def _caption(fig: Figure, cube: xr.Dataset, extra: str = "") -> None:
    text = (f"{cube.attrs.get('config_name', '?')} · config sha256 "
            f"{str(cube.attrs.get('config_sha256', '?'))[:12]} · seed {cube.attrs.get('seed')}"
            f" · {cube.sizes.get('replicate', '?')} replicates" + (f" · {extra}" if extra else ""))
    engine = fig.get_layout_engine()
    if engine is not None:                       # keep a strip at the bottom for the caption
        engine.set(rect=(0.0, 0.035, 1.0, 0.965))
    fig.text(0.01, 0.005, text, fontsize=7, color="#555555", ha="left", va="bottom")


#: line styles by strategy, so no strategy hides another drawn over it
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))
TIME_LABEL = "date (end of month)"


def _dates(cube: xr.Dataset) -> np.ndarray:
    """The grid's month ends, as dates (the x axis of every time plot)."""
    return np.asarray(cube["time"].values)


def _date_edges(cube: xr.Dataset) -> np.ndarray:
    """Cell edges of the grid's months as matplotlib date numbers (for pcolormesh)."""
    from matplotlib.dates import date2num

    x = date2num(_dates(cube))
    step = x[1] - x[0] if len(x) > 1 else 30.0
    return np.append(x[0] - step, x)


def _style(k: int) -> dict:
    return {"ls": LINESTYLES[k % len(LINESTYLES)], "lw": 2.2 if k == 0 else 1.6,
            "zorder": 3 + k}


def plot_coverage(cube: xr.Dataset, at: Mapping[str, Any] | None = None) -> Figure:
    """National coverage over time per strategy: median and 90% band over replicates."""
    point, label = select_point(cube, at)
    cov = point["national_coverage"].load()
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    x = _dates(cube)
    for k, s in enumerate(cov["strategy"].values):
        series = cov.sel(strategy=s).values
        lo, med, hi = np.nanpercentile(series, [5, 50, 95], axis=0)
        (line,) = ax.plot(x, med, label=f"{s} (median)", **_style(k))
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("national coverage (share of inpatient volume)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("National coverage by strategy (median, 90% band)")
    ax.legend(loc="lower right")
    _caption(fig, cube, label)
    return fig


def plot_harm(cube: xr.Dataset, at: Mapping[str, Any] | None = None) -> Figure:
    """Cumulative national harm and net benefit over time per strategy (median, 90% band)."""
    point, label = select_point(cube, at)
    harm = point["harm"].sum("province").load()
    net = (point["benefit"].sum("province") - point["harm"].sum("province")).load()
    units = cube["harm"].attrs.get("units", "")
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    x = _dates(cube)
    for ax, data, name in ((axes[0], harm, "cumulative harm"),
                           (axes[1], net, "cumulative net benefit")):
        for k, s in enumerate(data["strategy"].values):
            series = data.sel(strategy=s).values
            lo, med, hi = np.nanpercentile(series, [5, 50, 95], axis=0)
            (line,) = ax.plot(x, med, label=str(s), **_style(k))
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
        ax.set_xlabel(TIME_LABEL)
        ax.set_ylabel(f"{name} ({'benefit units' if units == '1' else units})")
        ax.set_title(f"National {name} (median, 90% band)")
        ax.legend(loc="upper left")
    _caption(fig, cube, label)
    return fig


def plot_stages(cube: xr.Dataset, at: Mapping[str, Any] | None = None, replicate: int = 0,
                strategies: list[str] | None = None) -> Figure:
    """Provinces by time, coloured by stage, for one replicate: one panel per strategy."""
    point, label = select_point(cube, at)
    check_replicate(cube, replicate)
    names = strategies or [str(s) for s in point["strategy"].values]
    for name in names:
        check_strategy(cube, name)
    stage = point["stage"].isel(replicate=replicate).load()
    meanings = stage.attrs.get("flag_meanings", cube["stage"].attrs["flag_meanings"]).split()
    cmap = ListedColormap(STAGE_COLOURS[:len(meanings)])
    norm = BoundaryNorm(np.arange(len(meanings) + 1) - 0.5, cmap.N)
    fig = Figure(figsize=(2.0 + 5.5 * len(names), 7), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names), sharey=True))
    edges = _date_edges(cube)
    provinces = [str(p) for p in cube["province"].values]
    for ax, s in zip(axes, names, strict=True):
        grid = stage.sel(strategy=s).values.T          # province x time
        ax.pcolormesh(edges, np.arange(len(provinces) + 1) - 0.5, grid, cmap=cmap, norm=norm)
        ax.xaxis_date()
        ax.set_title(f"{s}: stage of each province (replicate {replicate})", fontsize=10)
        ax.set_xlabel(TIME_LABEL)
        ax.set_yticks(range(len(provinces)))
        ax.set_yticklabels(provinces, fontsize=7)
    # the y axis is shared: invert it once (inverting every panel would flip it back and
    # forth with the number of panels), so the first province is at the top in every panel
    axes[0].set_ylim(len(provinces) - 0.5, -0.5)
    axes[0].set_ylabel("province")
    fig.legend(handles=[Patch(color=STAGE_COLOURS[i], label=m) for i, m in enumerate(meanings)],
               loc="outside right upper", ncol=1, title="stage")
    _caption(fig, cube, label)
    return fig


def plot_versions(cube: xr.Dataset, at: Mapping[str, Any] | None = None, replicate: int = 0,
                  strategy: str | None = None) -> Figure:
    """Rule versions released per track over time, with the defects known and fixed."""
    point, label = select_point(cube, at)
    strategy = strategy or str(point["strategy"].values[0])
    check_strategy(cube, strategy)
    check_replicate(cube, replicate)
    one = point.sel(strategy=strategy).isel(replicate=replicate).load()
    x = _dates(cube)
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    used = [t for t in one["track"].values
            if one["version"].sel(track=t).values.max() > 1
            or one["known_defects"].sel(track=t).values.max() > 0]
    for t in used or list(one["track"].values):
        top.step(x, one["version"].sel(track=t).values, where="post", label=f"{t} version")
        known = one["known_defects"].sel(track=t).values
        fixed = one["fixed_defects"].sel(track=t).values
        (line,) = bottom.step(x, known, where="post", label=f"{t}: defects known")
        bottom.step(x, fixed, where="post", ls="--", color=line.get_color(),
                    label=f"{t}: defects fixed")
    top.set_ylabel("rule-set version")
    top.set_title(f"Releases and defects, {strategy}, replicate {replicate}")
    top.legend(loc="upper left")
    bottom.set_ylabel("defects (count)")
    bottom.set_xlabel(TIME_LABEL)
    bottom.legend(loc="upper left", ncol=2)
    _caption(fig, cube, label)
    return fig


def plot_phase(cube: xr.Dataset, strategy: str | None = None, baseline: str = "big_bang",
               x: str | None = None, y: str | None = None,
               at: Mapping[str, Any] | None = None) -> Figure:
    """Over two swept parameters: the share of replicates in which ``strategy`` reaches stable
    coverage before ``baseline`` (phase_map.py: grids on their own axes, scattered designs as
    points over a pooled, binned estimate)."""
    from .phase_map import plot_phase as draw

    return draw(cube, strategy, baseline, x, y, at, caption=_caption, index_of=_index_of)


def plot_sensitivity(cube: xr.Dataset, metric: str = "net_benefit", baseline: str = "big_bang",
                     strategies: list[str] | None = None) -> Figure:
    """Which swept parameters decide each strategy's paired difference against the baseline:
    Spearman rank correlations (grid, LHS) or Sobol total indices (Sobol), with intervals."""
    from .sensitivity import sensitivity

    names = check_baseline(cube, baseline)
    strategies = strategies or [s for s in names if s != baseline]
    for name in strategies:
        check_strategy(cube, name)
    results = {s: sensitivity(cube, metric, baseline, s) for s in strategies}
    params = sorted({r.parameter for rows, _, _ in results.values() for r in rows})
    sobol = next(iter(results.values()))[0][0].method == "sobol"
    fig = Figure(figsize=(8, 1.2 + 0.45 * len(params) * max(1, len(strategies)) / 2),
                 layout="constrained")
    ax = fig.add_subplot()
    height = 0.8 / len(strategies)
    for k, name in enumerate(strategies):
        rows = {r.parameter: r for r in results[name][0]}
        ys = np.arange(len(params)) + (k - (len(strategies) - 1) / 2) * height
        value = [(rows[p].total if sobol else rows[p].index) for p in params]
        low = [(rows[p].total_low if sobol else rows[p].low) for p in params]
        high = [(rows[p].total_high if sobol else rows[p].high) for p in params]
        value = np.array([np.nan if v is None else v for v in value], float)
        err = np.array([[v - lo, hi - v] for v, lo, hi in zip(value, np.array(low, float),
                                                               np.array(high, float),
                                                               strict=True)]).T
        err = np.clip(err, 0.0, None)    # |rho| = 1: the Fisher interval is of a clamped rho
        ax.barh(ys, value, height=height * 0.9, xerr=err, capsize=2, color=f"C{k}",
                label=f"{name} (over {results[name][1]} points)")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(np.arange(len(params)), params, fontsize=8)
    ax.invert_yaxis()
    what = "Sobol total index ST" if sobol else "Spearman rank correlation"
    ax.set_xlabel(f"{what} with the mean paired difference in {metric}\n"
                  f"(strategy - {baseline}; bars: 95% CI)")
    ax.set_title(f"What decides d {metric} across the design")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    _caption(fig, cube)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Write a figure; the format follows the extension (.png, .svg, .pdf)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise RolloutError(f"{path}: unknown figure format {path.suffix or '(none)'!r}; use "
                           f"{', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path
