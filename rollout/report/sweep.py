"""The report's sections of a sweep: the counts of decided design points per claim (as
``rollout compare --summary``), the PRIM boxes of the report's claims (``analysis.discover``,
without its bootstrap, which costs minutes) and the switch ablation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import html
from .context import Context

if TYPE_CHECKING:
    from ..analysis.discover import ClaimData

SWEEP_METRICS = ("t_full", "t_stable", "net_benefit")


def decided(ctx: Context) -> str:
    from ..analysis.compare import design_summary

    rows = design_summary(ctx.compare(SWEEP_METRICS))
    header = ["strategy", "design points", "later to full coverage",
              "stable first in most worlds", "... and significantly", "net benefit higher",
              "net benefit lower", "slower is faster (stable first and net benefit higher)",
              "mean share stable first", "median difference, stable coverage (months)",
              "median difference, net benefit"]
    table = [[r["strategy"], r["points"], r["full_later"], r["stable_first_majority"],
              r["stable_first_significant"], r["net_benefit_higher"], r["net_benefit_lower"],
              r["slower_is_faster"], f"{r['mean_stable_first']:.2f}",
              f"{r['median_diff_t_stable']:+.1f}", f"{r['median_diff_net_benefit']:+.1f}"]
             for r in rows]
    pct = f"{ctx.confidence:.0%}"
    return html.table(header, table) + html.paragraph(
        f"Counts of design points (combinations of the swept parameters) where each strategy, "
        f"compared with {ctx.baseline} world by world ({ctx.replicates} worlds a point), "
        f"reaches full coverage later (the {pct} interval of the difference above 0), reaches "
        "stable coverage first in most worlds (and significantly: the interval of that share "
        "above one half), or ends with more or less net benefit (interval off 0). 'Slower is "
        "faster' counts the points where it is stable first in most worlds and its mean net "
        "benefit is higher. The same counts as rollout compare --summary.")


#: claims whose PRIM boxes the report shows (discover.CLAIMS names them)
REPORT_CLAIMS = ("slower_is_faster", "full_later", "stable_first", "net_benefit_higher")


def _claims(ctx: Context, claims: tuple[str, ...]) -> Iterator[tuple[str, str, ClaimData]]:
    """(strategy, claim, where it holds) for every strategy but the baseline: one design table
    and one comparison serve the whole page."""
    from ..analysis.discover import ClaimData, claim_outcome, design_table

    x, dims = design_table(ctx.ds)
    result = ctx.compare(SWEEP_METRICS)
    for s in ctx.strategies:
        if s != ctx.baseline:
            for claim in claims:
                yield s, claim, ClaimData(x, dims, claim_outcome(result, s, claim, dims))


def boxes(ctx: Context) -> str:
    from ..analysis.discover import CLAIMS, discover

    rows = []
    for s, claim, data in _claims(ctx, REPORT_CLAIMS):
        y = data.y
        held = f"{int(y.sum())} of {len(y)}"
        if y.sum() == 0 or y.sum() == len(y):
            rows.append([s, CLAIMS[claim], held,
                         "none: it holds nowhere" if y.sum() == 0
                         else "none needed: it holds everywhere", "-", "-", "-"])
            continue
        try:
            found = discover(ctx.ds, s, claim, ctx.baseline, resamples=0,
                             confidence=ctx.confidence, data=data)
        except Exception as err:  # noqa: BLE001 - one failed box must not sink the page
            rows.append([s, CLAIMS[claim], held, f"not found ({type(err).__name__}: "
                         f"{err})", "-", "-", "-"])
            continue
        limits = "; ".join(f"{name} {_limit(row['min'], row['max'])}"
                           for name, row in found.limits.iterrows()) or "(whole space)"
        rows.append([s, CLAIMS[claim], held, limits, f"{found.coverage:.2f}",
                     f"{found.density:.2f}", found.in_box])
    header = ["strategy", "claim", "holds at (design points)", "box: where it holds",
              "coverage", "density", "points in box"]
    return html.table(header, rows, left=(0, 1, 3)) + html.paragraph(
        "Scenario discovery (PRIM, as rollout discover): for each claim, the simplest region of "
        "the swept parameters where it mostly holds. Coverage: the share of the points where "
        "the claim holds that lie inside the box; density: the share of the points inside the "
        "box where it holds (the box reported is the widest whose density reaches 0.8). A "
        "parameter not named is unrestricted. rollout discover adds a bootstrap check of how "
        "stable each box is, which this page leaves out for speed.")


def _limit(low: object, high: object) -> str:
    if isinstance(low, (set, frozenset)):
        return "in {" + ", ".join(sorted(map(str, low))) + "}"
    return f"from {float(low):.3g} to {float(high):.3g}"


def switches(ctx: Context) -> list[str]:
    return [d for d in ctx.dims if d != "point" and ctx.ds[d].dtype == bool]


def ablation(ctx: Context) -> str:
    from ..analysis.discover import ablation

    rows = []
    for s, claim, data in _claims(ctx, ("slower_is_faster",)):
        table = ablation(ctx.ds, s, claim, ctx.baseline, ctx.confidence, data=data)
        for name, row in table.iterrows():
            rows.append([s, name, "-" if math.isnan(row["holds_on"]) else
                         f"{row['holds_on']:.0%}", f"{row['holds_off']:.0%}",
                         "yes" if row["necessary"] else "no",
                         "yes" if row["sufficient"] else "no"])
    return html.table(["strategy", "switch", "claim holds with it on", "with it off",
                       "necessary", "sufficient"], rows, left=(0, 1)) + html.paragraph(
        "Which model mechanisms (switches crossed with the same sampled points) the claim "
        "'slower is faster' (later to full coverage, yet stable first in most worlds) needs: "
        "the share of points where it holds with the switch on and off; necessary: it holds "
        "nowhere with the switch off; sufficient: with that switch alone on, it holds at a "
        "point where it does not with every switch off.")




def phase_parameters(ctx: Context) -> list[str]:
    """The sweep's numeric parameters (a phase map needs two)."""
    from ..analysis.phase_map import design_parameters

    return design_parameters(ctx.ds, ctx.dims) if ctx.is_sweep else []


def phase(ctx: Context) -> str:
    from ..analysis.figures import plot_phase
    from ..experiment.names import config_field

    x, y = (config_field(n) for n in phase_parameters(ctx)[:2])
    parts = [html.figure(plot_phase(ctx.ds, s, ctx.baseline),
                         f"Where {s} reaches stable coverage before {ctx.baseline}, over {x} "
                         f"and {y}", "")
             for s in ctx.strategies if s != ctx.baseline]
    return "".join(parts) + html.paragraph(
        f"Over the first two swept numeric parameters ({x} across, {y} up; switches, scenarios "
        "and the other parameters of a grid at their first value, as each figure's footer "
        "says; the other sampled parameters of a Latin hypercube as sampled): the share of "
        f"worlds in which the strategy reaches stable coverage before {ctx.baseline}, blue "
        "where the slower design is first in most worlds, red where the baseline is; points "
        "ringed in black are those where that share is clearly different from one half. "
        "rollout plot --kind phase --x --y draws other pairs.")
