"""The headline comparison: is the slower strategy faster? Paired, replicate by replicate.

Common random numbers make replicate i of every strategy the same world, so differences are
taken within replicates. A time that never comes within the horizon is right-censored
(survival.py): the table gives each strategy's Kaplan-Meier median with its interval ('never'
if fewer than half the runs get there) and, first, the paired difference of restricted times
(min(t, horizon)), which uses every replicate pair; the mean over the pairs where both reached
the time is a secondary column, labelled so. Every statistic is ``compare.compare``'s (one
implementation of each); this module lays out the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..experiment.names import config_field
from .compare import TIME_METRICS, check_baseline, compare, default_metrics, design_dims

METRICS = ("t_full", "t_stable", "net_benefit")


@dataclass
class PairedDifference:
    """Mean of (strategy - baseline) over replicates where both are finite, with its interval."""

    mean: float
    low: float
    high: float
    n: int            # replicate pairs used
    excluded: int     # pairs left out because a side never arrived


@dataclass
class HeadlineRow:
    strategy: str
    medians: dict[str, float]           # times: Kaplan-Meier (inf = never); else plain medians
    median_ci: dict[str, tuple[float, float]]   # Kaplan-Meier interval of the time medians
    reached: dict[str, int]             # replicates where the time came
    diff: dict[str, PairedDifference]   # against the baseline (times: pairs both reached)
    restricted: dict[str, PairedDifference]     # times: restricted difference, every pair
    stable_first: float                 # share of replicates reaching stable coverage first
    stable_first_ci: tuple[float, float]
    replicates: int
    # stable first by harm threshold: share -> (stable first, both stable and earlier, baseline
    # never stable); empty for a cube without t_stable_at (stability_curve.py)
    stable_curve: dict[float, tuple[float, float, float]] = field(default_factory=dict)
    floor: float = math.nan             # median harm/benefit rate ratio at the horizon


def never_median(values: np.ndarray) -> float:
    """Median with NaN read as 'never' (+inf); inf if most runs never arrive."""
    return float(np.median(np.where(np.isnan(values), np.inf, values)))


def headline(ds: xr.Dataset, baseline: str = "big_bang", confidence: float = 0.95
             ) -> list[HeadlineRow]:
    """Per strategy: medians, paired differences against ``baseline``, share stable first."""
    strategies = check_baseline(ds, baseline)
    metrics = [*METRICS, *(["t_overtake"] if "t_overtake" in default_metrics(ds) else [])]
    times = [m for m in metrics if m in TIME_METRICS]
    result = compare(ds, baseline, metrics, confidence, km=True)
    values = {m: ds[m].load().values for m in METRICS}
    n = ds.sizes["replicate"]
    curve, floors = _curve(ds, baseline, confidence)
    rows = []
    for i, name in enumerate(strategies):
        own = result.isel(strategy=i)
        med = {m: float(own[f"km_median_{m}"]) if m in TIME_METRICS
               else never_median(values[m][i]) for m in metrics}
        ci = {m: (float(own[f"km_low_{m}"]), float(own[f"km_high_{m}"])) for m in times}
        reached = {m: n - int(own[f"never_{m}"]) for m in times}
        diff = {m: PairedDifference(float(own[f"diff_{m}"]), float(own[f"low_{m}"]),
                                    float(own[f"high_{m}"]), int(own[f"pairs_{m}"]),
                                    int(own[f"excluded_{m}"]))
                for m in metrics}
        restricted = {m: PairedDifference(float(own[f"rdiff_{m}"]), float(own[f"rlow_{m}"]),
                                          float(own[f"rhigh_{m}"]), n, 0)
                      for m in times}
        rows.append(HeadlineRow(name, med, ci, reached, diff, restricted,
                                float(own["stable_first"]),
                                (float(own["stable_first_low"]),
                                 float(own["stable_first_high"])), n,
                                curve.get(name, {}), floors.get(name, math.nan)))
    return rows


def _curve(ds: xr.Dataset, baseline: str, confidence: float
           ) -> tuple[dict[str, dict[float, tuple[float, float, float]]], dict[str, float]]:
    """Stable first by threshold (cubes with t_stable_at) and the median floor (cubes with the
    rates at the horizon or the series), per strategy."""
    from .stability_curve import floor_ratio, stable_first_curve

    curves: dict[str, dict[float, tuple[float, float, float]]] = {}
    floors: dict[str, float] = {}
    if "t_stable_at" in ds:
        c = stable_first_curve(ds, baseline, confidence)
        for s in c["strategy"].values:
            row = c.sel(strategy=s)
            curves[str(s)] = {float(k): (float(row["stable_first"].sel(stable_threshold=k)),
                                         float(row["earlier"].sel(stable_threshold=k)),
                                         float(row["baseline_never"].sel(stable_threshold=k)))
                              for k in row["stable_threshold"].values}
    if "end_harm_rate" in ds or ("harm" in ds and "benefit" in ds):
        ratio = floor_ratio(ds)[0].median("replicate").load()
        floors = {str(s): float(ratio.sel(strategy=s)) for s in ratio["strategy"].values}
    return curves, floors


def _fmt_time(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f}"


def _fmt_diff(d: PairedDifference) -> str:
    if d.n == 0:
        return "n/a"
    if math.isnan(d.low):
        return f"{d.mean:+.1f}"
    return f"{d.mean:+.1f} [{d.low:+.1f}, {d.high:+.1f}]"


def _fmt_median(r: HeadlineRow, m: str) -> str:
    low, high = r.median_ci[m]
    if math.isinf(r.medians[m]):
        return "never"
    return f"{r.medians[m]:.1f} [{_fmt_time(low)}, {_fmt_time(high)}]"


def format_headline(rows: list[HeadlineRow], baseline: str, confidence: float = 0.95) -> str:
    """The table printed at the end of a run."""
    pct = f"{confidence:.0%}"
    overtake = any("t_overtake" in r.medians for r in rows)
    header = ["strategy", "t_full", "t_stable", "net_benefit",
              f"d t_full ({pct} CI)", f"d t_stable ({pct} CI)", f"d net_benefit ({pct} CI)",
              "stable first", *(["overtakes"] if overtake else []),
              "d t_full, both reached", "d t_stable, both reached"]
    table = [header]
    notes = []
    for r in rows:
        base = r.strategy == baseline
        over = (["-" if base else _fmt_median(r, "t_overtake")
                 + f" ({r.reached['t_overtake']}/{r.replicates})"] if overtake else [])
        table.append([
            r.strategy + (" (baseline)" if base else ""),
            _fmt_median(r, "t_full"), _fmt_median(r, "t_stable"),
            f"{r.medians['net_benefit']:.1f}",
            "-" if base else _fmt_diff(r.restricted["t_full"]),
            "-" if base else _fmt_diff(r.restricted["t_stable"]),
            "-" if base else _fmt_diff(r.diff["net_benefit"]),
            "-" if base else f"{r.stable_first:.0%} [{r.stable_first_ci[0]:.0%}, "
                             f"{r.stable_first_ci[1]:.0%}]",
            *over,
            "-" if base else _fmt_diff(r.diff["t_full"]) + f" ({r.diff['t_full'].n})",
            "-" if base else _fmt_diff(r.diff["t_stable"]) + f" ({r.diff['t_stable'].n})",
        ])
        for m in ("t_full", "t_stable"):
            if r.reached[m] < r.replicates:
                notes.append(f"{r.strategy}: {m} never reached in "
                             f"{r.replicates - r.reached[m]} of {r.replicates} replicates")
    widths = [max(len(row[j]) for row in table) for j in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                       for j, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    text += ("\ntimes: medians over replicates with a time never reached counted as +inf "
             f"(as stored in the cube), with their {pct} Kaplan-Meier interval (months since "
             "start; 'never' if at least half the runs never get there); "
             f"d = mean paired difference against {baseline} over every replicate (negative "
             "times: sooner), times restricted to the horizon (a time never reached counts the "
             "horizon); both reached: the mean over the pairs (count) where both reached it, a "
             "biased subset shown for reference; stable first = share of replicates reaching "
             "stable coverage before the baseline" + (
                 "; overtakes: Kaplan-Meier median [interval] of t_overtake, the first month "
                 "from which the strategy's cumulative net benefit stays at or above the "
                 "baseline's to the horizon ('never': not in most runs), with the runs "
                 "(of all) that overtake by the horizon." if overtake else "."))
    text += _curve_lines(rows, baseline)
    if notes:
        text += "\n" + "\n".join("note: " + n for n in notes)
    return text


def _curve_lines(rows: list[HeadlineRow], baseline: str) -> str:
    """Stable first as a curve over the harm thresholds, and the floor that decides it."""
    lines = []
    curved = [r for r in rows if r.stable_curve and r.strategy != baseline]
    if curved:
        lines.append(f"stable first by harm threshold (share of the benefit rate): share of "
                     f"replicates = both stable and strictly earlier + {baseline} never stable")
        for r in curved:
            lines.append(f"  {r.strategy}: " + "; ".join(
                f"{k:g}: {a:.0%} = {b:.0%} + {c:.0%}" for k, (a, b, c) in r.stable_curve.items()))
    if any(not math.isnan(r.floor) for r in rows):
        lines.append("long-run floor (median harm-to-benefit rate ratio at the horizon; never "
                     "stable below it): " + ", ".join(f"{r.strategy} {r.floor:.3g}"
                                                      for r in rows))
    return ("\n" + "\n".join(lines)) if lines else ""


def format_sweep_summary(ds: xr.Dataset, baseline: str, max_points: int = 24) -> str:
    """The end of a sweep: the headline table for a single point, else one line a point."""
    dims = design_dims(ds)
    if not dims:
        return format_headline(headline(ds, baseline), baseline)
    shape = tuple(ds.sizes[d] for d in dims)
    n = int(np.prod(shape))
    others = [str(s) for s in ds["strategy"].values if str(s) != baseline]
    # the first points in C order over the design dimensions, compared in one pass
    shown = ds[list(METRICS)].stack(_point=dims, create_index=False).isel(
        _point=slice(0, max_points))
    result = compare(shown, baseline, METRICS)
    lines = [f"per design point, against {baseline}: share of replicates reaching stable "
             "coverage first, and mean paired d net_benefit"]
    for i, idx in enumerate(np.ndindex(*shape)):
        if i == max_points:
            break
        point = result.isel(_point=i)
        label = ", ".join(f"{config_field(d)}={_short(ds[d].values[j])}"
                          for d, j in zip(dims, idx, strict=True))
        cells = [f"{s}: {float(point['stable_first'].sel(strategy=s)):.0%} / "
                 f"{float(point['diff_net_benefit'].sel(strategy=s)):+.1f}" for s in others]
        lines.append(f"  {label}  |  " + "  ".join(cells))
    if n > max_points:
        lines.append(f"  ... and {n - max_points} more points")
    return "\n".join(lines)


def _short(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:.4g}" if isinstance(value, float) else str(value)
