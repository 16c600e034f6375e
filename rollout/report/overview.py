"""The report's sections on what was run and its figures: the provenance table (the cube's
attributes) and the coverage, harm/net-benefit and stages figures of ``analysis/figures.py``,
each with a caption in plain words."""

from __future__ import annotations

import numpy as np

from ..experiment.names import config_field
from . import html
from .context import Context


def provenance(ctx: Context) -> str:
    import json

    from ..experiment.cube import package_versions

    attrs = ctx.ds.attrs
    versions = json.loads(attrs.get("versions", "{}"))
    cfg = ctx.config
    if ctx.is_sweep:
        design = json.loads(attrs.get("design", "{}"))
        points = int(np.prod([ctx.ds.sizes[d] for d in ctx.dims]))
        what = (f"a sweep ({design.get('kind', '?')} design) of {points} design points over "
                + ", ".join(_design_parameters(ctx)) + f"; {len(ctx.strategies)} strategies x "
                f"{ctx.replicates} replicates at each point")
    else:
        what = f"a single run: {len(ctx.strategies)} strategies x {ctx.replicates} replicates"
    rows = [
        ("Config", attrs.get("config_name", "?")),
        ("What was run", what),
        ("Strategies", ", ".join(ctx.strategies) + f" (baseline: {ctx.baseline})"),
        ("Simulated period", f"{ctx.horizon:g} months from {cfg['time']['start']}"),
        ("Seed", attrs.get("seed", "?")),
        ("Config sha256", attrs.get("config_sha256", "?")),
        ("Province table", f"{attrs.get('data_file', '?')}, sha256 "
                           f"{attrs.get('data_sha256', '?')}"),
        ("Made with", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))),
        ("Cube written", attrs.get("created", "?")),
        ("Cube", ctx.source),
        ("This report", f"written {_now()} by rollout {package_versions().get('rollout', '?')}"),
    ]
    return html.facts(rows) + html.paragraph(
        "The config sha256 identifies the exact configuration stored in the cube (rollout "
        "validate prints the same hash for a config file); with the seed it reproduces the "
        "cube bit for bit, which rollout verify checks. Each replicate is one simulated world: "
        "every strategy meets the same worlds, so strategies are compared world by world.")


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _design_parameters(ctx: Context) -> list[str]:
    from ..analysis.design_table import sampled_parameters

    names = []
    for d in ctx.dims:
        names.extend(config_field(n) for n in sampled_parameters(ctx.ds)) if d == "point" \
            else names.append(config_field(d))
    return names



def where(ctx: Context) -> str:
    """For a sweep: which design point the figures show."""
    if not ctx.is_sweep:
        return ""
    from ..analysis.figures import select_point

    _, label = select_point(ctx.ds, None)
    return (f" A sweep: shown at its first design point ({label}); rollout plot --at draws "
            "any other.")


def coverage(ctx: Context) -> str:
    from ..analysis.figures import plot_coverage

    return html.figure(
        plot_coverage(ctx.ds), "National coverage over time by strategy",
        "Share of the nation's inpatient volume paid under the new rules, month by month. "
        f"Line: the median over the {ctx.replicates} simulated worlds; shaded band: the "
        "middle 90% of worlds (between the 5th and the 95th percentile), so the band shows how "
        "much the timing varies with luck in defects, detection and capacity." + where(ctx))


def harm(ctx: Context) -> str:
    from ..analysis.figures import plot_harm

    return html.figure(
        plot_harm(ctx.ds), "Cumulative harm and net benefit over time by strategy",
        "Left: harm from defects in the payment rules (and from gaming they allow), added up "
        "from the start. Right: benefit minus harm, added up from the start; the strategy whose "
        "line ends higher delivered more over the period. Benefit units: one unit is one month "
        "of the whole nation's benefit under correct rules. Line: median over the "
        f"{ctx.replicates} worlds; band: the middle 90% of worlds." + where(ctx))


def stages(ctx: Context) -> str:
    from ..analysis.figures import plot_stages

    names = ctx.strategies
    parts = []
    for k in range(0, len(names), 2):           # two panels a figure: legible on a page
        parts.append(html.figure(
            plot_stages(ctx.ds, None, 0, names[k:k + 2]),
            "Stage of each province over time: " + ", ".join(names[k:k + 2]), ""))
    return "".join(parts) + html.paragraph(
        "One simulated world (replicate 0, the same world for every strategy): each row is a "
        "province, each column a month, coloured by the province's stage in the rollout "
        "(waiting, pilot, evaluation, recalibration, scale-up, complete; red: payment under the "
        "new rules suspended after defects were found). Other worlds differ in detail; the "
        "coverage figure above summarises all of them." + where(ctx))


