"""The report's headline sections of a single run: the comparison in sentences and as a table
with its intervals (``analysis.headline``), and every other per-replicate outcome of the cube
(``analysis.compare``), so an outcome added to the cube later shows up without new code."""

from __future__ import annotations

import math

import numpy as np

from . import html
from .context import Context


def _interval(mean: float, low: float, high: float, fmt: str = "{:+.1f}") -> str:
    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return fmt.format(mean)
    return f"{fmt.format(mean)} [{fmt.format(low)}, {fmt.format(high)}]"


def _lines(mean: float, low: float, high: float) -> tuple[str, ...] | str:
    """A difference and its interval as two lines of a cell."""
    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:+.1f}"
    return (f"{mean:+.1f}", f"[{low:+.1f}, {high:+.1f}]")


def _verdict(name: str, d, unit: str, more: str, less: str, pct: str) -> str:
    """One clause in words: '61.2 months later (95% CI 57.6 to 64.7)', or no clear
    difference when the interval holds 0."""
    if not math.isfinite(d.mean):
        return f"{name}: not computable"
    if d.low == d.high == d.mean:                 # no spread: the same difference everywhere
        if d.mean == 0.0:
            return f"the same {name} in every world"
        return (f"{name} {abs(d.mean):.1f} {unit} {more if d.mean > 0 else less} in every "
                "world")
    ci = f"{pct} CI {d.low:+.1f} to {d.high:+.1f}" if math.isfinite(d.low) else "no interval"
    if math.isfinite(d.low) and d.low <= 0.0 <= d.high:
        return f"no clear difference in {name} ({d.mean:+.1f} {unit}, {ci})"
    return f"{name} {abs(d.mean):.1f} {unit} {more if d.mean > 0 else less} ({ci})"


def _summary(ctx: Context, rows: list) -> list[str]:
    """The headline in sentences, one per strategy against the baseline."""
    pct = f"{ctx.confidence:.0%}"
    out = []
    for r in rows:
        if r.strategy == ctx.baseline:
            continue
        parts = [_verdict("full coverage", r.restricted["t_full"], "months", "later", "sooner",
                          pct),
                 _verdict("stable coverage", r.restricted["t_stable"], "months", "later",
                          "sooner", pct),
                 _verdict("net benefit", r.diff["net_benefit"], "benefit units", "more", "less",
                          pct)]
        out.append(f"{r.strategy} against {ctx.baseline}, on average over the same "
                   f"{r.replicates} worlds: " + "; ".join(parts) + f". It reaches stable "
                   f"coverage first in {r.stable_first:.0%} of the worlds ({pct} CI "
                   f"{r.stable_first_ci[0]:.0%} to {r.stable_first_ci[1]:.0%}).")
    return out


def headline_section(ctx: Context) -> str:
    from ..analysis import headline

    rows = headline(ctx.ds, ctx.baseline, ctx.confidence)
    pct = f"{ctx.confidence:.0%}"
    cfg = ctx.config["outcomes"]
    header = ["strategy", ("full coverage", "(median)"), ("stable coverage", "(median)"),
              ("net benefit", "(median)"), ("full coverage:", "difference,", "months"),
              ("stable coverage:", "difference,", "months"), ("net benefit:", "difference"),
              ("stable first:", "share of worlds")]
    table = []
    for r in rows:
        base = r.strategy == ctx.baseline

        def median(m: str, r=r) -> tuple[str, ...] | str:
            low, high = r.median_ci[m]
            if math.isinf(r.medians[m]):
                return "never"
            return (ctx.date(r.medians[m]), f"month {r.medians[m]:.1f}",
                    f"[{_short_time(low)}, {_short_time(high)}]")

        table.append([
            r.strategy + (" (baseline)" if base else ""),
            median("t_full"), median("t_stable"), f"{r.medians['net_benefit']:.1f}",
            "-" if base else _lines(r.restricted["t_full"].mean, r.restricted["t_full"].low,
                                    r.restricted["t_full"].high),
            "-" if base else _lines(r.restricted["t_stable"].mean,
                                    r.restricted["t_stable"].low,
                                    r.restricted["t_stable"].high),
            "-" if base else _lines(r.diff["net_benefit"].mean, r.diff["net_benefit"].low,
                                    r.diff["net_benefit"].high),
            "-" if base else (f"{r.stable_first:.0%}", f"[{r.stable_first_ci[0]:.0%}, "
                              f"{r.stable_first_ci[1]:.0%}]"),
        ])
    notes = [f"{r.strategy}: {m.replace('t_', '')} coverage never reached in "
             f"{r.replicates - r.reached[m]} of {r.replicates} worlds"
             for r in rows for m in ("t_full", "t_stable") if r.reached[m] < r.replicates]
    text = [
        f"Full coverage: the month the new payment rules first cover "
        f"{cfg['coverage_threshold']:.0%} of the nation's inpatient volume. Stable coverage: "
        f"the month from which coverage stays there and the harm from defects in the rules "
        f"stays below {cfg['stable_harm_share']:.0%} of the reform's benefit until the end of "
        f"the {ctx.horizon:g} simulated months. Each median is over the {ctx.replicates} "
        f"simulated worlds, with the month counted from {ctx.config['time']['start']} and, in "
        f"brackets, the {pct} interval of that median; 'never' means at least half the worlds "
        "do not get there within the simulated period.",
        "Net benefit: the reform's benefit minus the harm over the whole period, in benefit "
        "units (one unit is one month of the whole nation's benefit under correct rules).",
        f"Difference: the strategy minus {ctx.baseline}, world by world, averaged over the "
        f"worlds; in brackets its {pct} confidence interval. A positive difference in months "
        "means later, a positive difference in net benefit means more; a time never reached "
        "counts as the end of the period, so every world counts. If an interval includes 0, "
        "the simulation cannot tell the two strategies apart on that number.",
        f"Stable first: the share of worlds in which the strategy reaches stable coverage "
        f"before {ctx.baseline}, with its {pct} interval.",
    ]
    return (html.bullets(_summary(ctx, rows)) + html.table(header, table)
            + "".join(html.paragraph(t) for t in text)
            + "".join(html.paragraph(n, "note") for n in notes))


def _short_time(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f}"


#: per-replicate outcomes that have a section of their own (the crossover; the long-run floor
#: in the stable-first section): not repeated among the other outcomes
OWN_SECTION = ("t_overtake", "end_harm_rate", "end_benefit_rate")


def other_metrics(ctx: Context) -> list[str]:
    """Per-replicate variables (strategy x replicate, no time axis) the headline and the other
    sections leave out."""
    from ..analysis import METRICS

    return [str(n) for n, v in ctx.ds.data_vars.items()
            if set(v.dims) == {"strategy", "replicate"} and n not in METRICS
            and n not in OWN_SECTION]


def others(ctx: Context) -> str:
    metrics = other_metrics(ctx)
    result = ctx.compare(metrics)
    header = ["outcome", "units"] + [s + (" (baseline)" if s == ctx.baseline else "")
                                     for s in ctx.strategies]
    rows = []
    for m in metrics:
        values = ctx.ds[m].load().values.astype(float)          # strategy x replicate
        var = ctx.ds[m]
        units = var.attrs.get("units", "")
        cells = []
        for i, s in enumerate(ctx.strategies):
            median = float(np.median(values[i]))
            text = "never" if math.isinf(median) else f"{median:.4g}"
            if s == ctx.baseline:
                cells.append(text)
                continue
            own = result.sel(strategy=s)
            cells.append((text, "d " + _interval(float(own[f"diff_{m}"]),
                                                 float(own[f"low_{m}"]),
                                                 float(own[f"high_{m}"]), "{:+.3g}")))
        rows.append([f"{m}: {var.attrs.get('long_name', '')}",
                     "benefit units" if units == "1" and m in _BENEFIT else units or "-"]
                    + cells)
    return html.table(header, rows, left=(0, 1)) + html.paragraph(
        f"Each cell: the median over the {ctx.replicates} worlds; below it (d), for each "
        f"strategy but {ctx.baseline}, the mean difference from {ctx.baseline} world by world "
        f"with its {ctx.confidence:.0%} confidence interval in brackets ('n/a' where a side "
        "never got there). Counts are counts of events in one simulated world over the whole "
        "period.")


_BENEFIT = ("harm_total", "benefit_total", "net_benefit")


