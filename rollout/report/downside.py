"""The report's sections of downside risk (a single run: ``analysis.risk``) and of regret across
a sweep's design (``analysis.regret``): what can go wrong, not only what happens on average.
Numbers come from those functions, not recomputed."""

from __future__ import annotations

import math

from . import html
from .context import Context


def risk_available(ctx: Context) -> bool:
    return not ctx.is_sweep and "net_benefit" in ctx.ds


def risk_result(ctx: Context):
    """``analysis.risk`` against the baseline, at the cube's own risk margin."""
    from ..analysis.horizons import analysis_levels
    from ..analysis.risk import risk

    return risk(ctx.ds, ctx.baseline, analysis_levels(ctx.ds)[2], ctx.confidence)


def _num(value) -> str:
    value = float(value)
    return f"{value:.1f}" if math.isfinite(value) else "n/a"


def downside(ctx: Context) -> str:
    r = risk_result(ctx)
    margin = float(r.attrs["margin"])
    base = ctx.baseline
    pause = "p_pause" in r
    units = f"{margin:g} benefit unit" + ("" if margin == 1 else "s")
    header = ["strategy", ("5% quantile", "(benefit units)"), ("10% quantile", "(benefit units)"),
              ("expected shortfall", "5% (benefit units)"),
              ("expected shortfall", "10% (benefit units)"),
              (f"more than {units}", f"below {base}", f"[{ctx.confidence:.0%} CI]")]
    header += [("national pause", "(share of worlds)")] if pause else []
    rows = []
    for s in ctx.strategies:
        row = r.sel(strategy=s)
        cells = [s + (" (baseline)" if s == base else ""), _num(row["q05"]), _num(row["q10"]),
                 _num(row["es05"]), _num(row["es10"])]
        cells.append("-" if s == base else (f"{float(row['p_below']):.0%}",
                                            f"[{float(row['p_below_low']):.0%}, "
                                            f"{float(row['p_below_high']):.0%}]"))
        if pause:
            cells.append(f"{float(row['p_pause']):.0%}")
        rows.append(cells)
    n = ctx.replicates
    text = (f"Net benefit in benefit units over the {ctx.horizon:g} simulated months, across "
            f"the {n} worlds. 5% (10%) quantile: the value that the worst 5% (10%) of worlds "
            "fall below (interpolated between worlds). Expected shortfall: the average over the "
            "worst 5% (10%) of worlds, at least one (with few worlds, the single worst). 'More "
            f"than {units} below {base}': the share of worlds in which the design ends more "
            f"than {units} below {base}'s net benefit in the same world, with its "
            f"{ctx.confidence:.0%} interval.")
    if pause:
        text += (" National pause: the share of worlds in which the centre paused the reform "
                 "at least once.")
    else:
        text += (" This cube has no record of national pauses (the 'halted' series), so their "
                 "chance is not shown.")
    return html.table(header, rows) + html.paragraph(text)


def regret_available(ctx: Context) -> bool:
    return ctx.is_sweep and "net_benefit" in ctx.ds and "t_stable" in ctx.ds


def regret_records(ctx: Context) -> list[dict]:
    from ..analysis.horizons import analysis_levels
    from ..analysis.regret import regret_table

    return regret_table(ctx.ds, analysis_levels(ctx.ds)[2])


_OUTCOME = {"net_benefit": ("net benefit", "benefit units"),
            "t_stable": ("stable coverage", "months")}


def regret(ctx: Context) -> str:
    records = regret_records(ctx)
    header = ["switches", "outcome", "strategy", ("largest", "regret"),
              ("90th percentile", "of regret"), ("within", "tolerance"), ("minimax", "regret")]
    rows = [[r["switches"], _OUTCOME[r["outcome"]][0], r["strategy"],
             f"{r['max_regret']:.1f} {_OUTCOME[r['outcome']][1]}",
             f"{r['p90_regret']:.1f} {_OUTCOME[r['outcome']][1]}",
             f"{r['satisficing']:.0%} of {r['points']} points",
             "yes" if r["minimax"] else ""] for r in records]
    words = [f"{r['switches']}, {_OUTCOME[r['outcome']][0]}: {r['strategy']} has the smallest "
             f"largest regret ({r['max_regret']:.1f} {_OUTCOME[r['outcome']][1]})"
             for r in records if r["minimax"]]
    tol = {r["outcome"]: r["tolerance"] for r in records}
    return html.bullets(words) + html.table(header, rows, left=(0, 1, 2)) + html.paragraph(
        "Regret of a design at a point of the sweep: how far its average outcome there falls "
        "short of the best design's (net benefit, in benefit units; or months later to stable "
        "coverage, a time never reached counted as the end of the period). Across the points: "
        "the largest regret, its 90th percentile, and the share of points where the regret is "
        f"within tolerance ({tol.get('net_benefit', 0):g} benefit units; "
        f"{tol.get('t_stable', 0):g} months). The minimax-regret design has the smallest "
        "largest regret: the safest choice when nobody knows which point is the real world. "
        "'pooled' is over the whole sweep; the other rows fix the swept mechanism switches.")
