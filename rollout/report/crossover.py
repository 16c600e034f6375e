"""The report's sections of issue 21's time outcomes for a single run: when a design's
cumulative net benefit catches up with the baseline's (``t_overtake``: ``analysis.overtake``,
Kaplan-Meier medians from ``analysis.survival``, the figure of ``plot --kind overtake``), and
stable first at each harm threshold with the long-run floor (``analysis.stability_curve``, the
figure of ``plot --kind stable-curve``). Numbers come from those functions, not recomputed."""

from __future__ import annotations

import math

import numpy as np

from . import html
from .context import Context


def _series(ctx: Context) -> bool:
    return "benefit" in ctx.ds and "harm" in ctx.ds


def crossover_available(ctx: Context) -> bool:
    """A single run with t_overtake against this baseline, or the series to compute it."""
    stored = "t_overtake" in ctx.ds and ctx.ds["t_overtake"].attrs.get("baseline") == ctx.baseline
    return not ctx.is_sweep and (stored or _series(ctx))


def overtake_rows(ctx: Context) -> list[dict]:
    """Per strategy but the baseline: runs, how many overtake by the horizon, how many are
    never behind (t_overtake 0), and the Kaplan-Meier median of t_overtake with its interval."""
    from ..analysis.overtake import overtake_times
    from ..analysis.survival import km_median

    times = overtake_times(ctx.ds, ctx.baseline).load()
    rows = []
    for s in ctx.strategies:
        if s == ctx.baseline:
            continue
        t = np.asarray(times.sel(strategy=s).values, float)
        median, low, high = km_median(t, ctx.horizon, ctx.confidence)
        reached = int((np.isfinite(t) & (t <= ctx.horizon)).sum())
        rows.append({"strategy": s, "runs": int(t.size), "overtake": reached,
                     "never_behind": int((t == 0.0).sum()), "median": median, "low": low,
                     "high": high})
    return rows


def _month(ctx: Context, value: float) -> str:
    return "never" if not math.isfinite(value) else f"month {value:.1f} ({ctx.date(value)})"


def _bound(value: float) -> str:
    return "never" if not math.isfinite(value) else f"{value:.1f}"


def _sentence(ctx: Context, r: dict) -> str:
    base = ctx.baseline
    if r["never_behind"] == r["runs"]:
        return (f"{r['strategy']}'s cumulative net benefit is never behind {base}'s, in any of "
                f"the {r['runs']} runs (it overtakes at month 0: no catching up is needed).")
    text = (f"{r['strategy']}'s cumulative net benefit overtakes {base}'s for good in "
            f"{r['overtake']} of {r['runs']} runs by the end of the {ctx.horizon:g} simulated "
            f"months")
    if r["never_behind"]:
        text += f" ({r['never_behind']} of them never fall behind at all)"
    if math.isfinite(r["median"]):
        text += (f"; median {_month(ctx, r['median'])}, {ctx.confidence:.0%} interval "
                 f"{_bound(r['low'])} to {_bound(r['high'])} months")
    else:
        text += "; the median is 'never': most runs do not catch up within the period"
    never = r["runs"] - r["overtake"]
    return text + (f"; never within the horizon in {never} of {r['runs']}." if never else ".")


def crossover(ctx: Context) -> str:
    from ..analysis.outcome_figures import plot_overtake

    rows = overtake_rows(ctx)
    header = ["strategy", ("overtakes by", "the horizon", "(runs)"), ("never behind", "(runs)"),
              ("never within", "the horizon", "(runs)"), ("median month", "(Kaplan-Meier)"),
              (f"{ctx.confidence:.0%} interval", "(months)")]
    table = [[r["strategy"], f"{r['overtake']} of {r['runs']}", str(r["never_behind"]),
              str(r["runs"] - r["overtake"]), _month(ctx, r["median"]),
              f"{_bound(r['low'])} to {_bound(r['high'])}"] for r in rows]
    out = html.bullets(_sentence(ctx, r) for r in rows) + html.table(header, table)
    out += html.paragraph(
        f"Overtaking: the first month end from which a design's cumulative net benefit (benefit "
        f"minus harm since the start, in benefit units) is never again below {ctx.baseline}'s "
        "in the same simulated world, up to one month late. A design that is never behind "
        "overtakes at month 0. The median counts a world that never catches up as later than "
        "any month (Kaplan-Meier, censored at the end of the period); 'never' means at least "
        "half the worlds do not catch up within it.")
    if _series(ctx):
        out += html.figure(plot_overtake(ctx.ds, ctx.baseline, confidence=ctx.confidence),
                           f"Cumulative net benefit of each design minus {ctx.baseline}'s, "
                           "over time",
                           f"Each design's cumulative net benefit minus {ctx.baseline}'s, world "
                           f"by world, in benefit units: the mean (line) with its "
                           f"{ctx.confidence:.0%} interval (dark band) and the range of 90% of "
                           "the worlds (light band); a dotted line marks the median month of "
                           "overtaking where most worlds overtake. Above zero the design is "
                           "ahead.")
    return out


def stable_available(ctx: Context) -> bool:
    return not ctx.is_sweep and "t_stable_at" in ctx.ds


def stable_tables(ctx: Context):
    """(stable first by threshold, floor summary or None): the analysis' own datasets."""
    from ..analysis.stability_curve import floor_summary, stable_first_curve

    curve = stable_first_curve(ctx.ds, ctx.baseline, ctx.confidence)
    has_floor = "end_harm_rate" in ctx.ds or _series(ctx)
    return curve, (floor_summary(ctx.ds) if has_floor else None)


def _floor(ratio: float) -> str:
    """A harm-to-benefit rate ratio as a percentage, three significant digits (it can be tiny)."""
    return f"{100 * ratio:.3g}% of benefit" if math.isfinite(ratio) else "n/a"


def stable(ctx: Context) -> str:
    from ..analysis.outcome_figures import plot_stable_curve

    curve, floor = stable_tables(ctx)
    base = ctx.baseline
    thresholds = curve["stable_threshold"].values
    header = ["strategy"] + [("harm below", f"{float(k):.0%} of benefit") for k in thresholds]
    table = []
    for s in ctx.strategies:
        if s == base:
            continue
        cells = []
        for k in thresholds:
            c = curve.sel(strategy=s, stable_threshold=k)
            cells.append((f"{float(c['stable_first']):.0%} [{float(c['stable_first_low']):.0%}, "
                          f"{float(c['stable_first_high']):.0%}]",
                          f"= {float(c['earlier']):.0%} earlier",
                          f"+ {float(c['baseline_never']):.0%} {base} never",
                          f"ever stable {float(c['stable_reached']):.0%}"))
        table.append([s, *cells])
    out = html.table(header, table) + html.paragraph(
        f"Each cell, stable first: the share of the {ctx.replicates} worlds in which a design "
        f"reaches stable coverage before {base}, when stability asks the harm from defects to "
        "stay below the given share of the reform's benefit, with its "
        f"{ctx.confidence:.0%} interval. It is the sum of two different things: both designs "
        "became stable and this one strictly earlier ('earlier'), and this one became stable "
        f"while {base} never did ('{base} never'); 'ever stable': the share of worlds in which "
        f"the design becomes stable at all. Where {base} is never stable, 'stable first' means "
        f"{base} keeps more permanent harm than the threshold allows, not that the other design "
        "got there sooner.", "note")
    if floor is not None:
        rows = [[s, _floor(float(floor["floor_median"].sel(strategy=s)))]
                + [f"{float(floor['floor_above'].sel(strategy=s, stable_threshold=k)):.0%}"
                   for k in floor["stable_threshold"].values] for s in ctx.strategies]
        out += html.table(["strategy", ("long-run floor", "(median)")]
                          + [("runs above", f"{float(k):.0%}") for k in
                             floor["stable_threshold"].values], rows) + html.paragraph(
            "Long-run floor: the harm rate at the end of the period as a share of the benefit "
            "rate then (median over the worlds), the harm that has not gone away; 'runs above "
            "k': the share of worlds whose floor is above the threshold k, which can never be "
            "stable at k." + ("" if floor.attrs["floor_exact"] else " This cube does not store "
                               "the rates at the end: the floor is the last month's mean."))
    out += html.figure(plot_stable_curve(ctx.ds, base, confidence=ctx.confidence),
                       "Share of worlds stable first against the harm threshold",
                       f"Share of worlds in which each design is stable first against {base}, "
                       f"by harm threshold (solid, with its {ctx.confidence:.0%} band), split "
                       "into both stable and strictly earlier (dashed) and "
                       f"{base} never stable (dotted); triangles mark each design's median "
                       "long-run floor.")
    return out
