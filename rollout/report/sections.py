"""The report's sections, in a registry: each says when it applies and how it renders.

A ``Section`` has a key, a title, ``available(ctx)`` (does this cube hold what the section
needs: a variable, a design dimension, an analysis function?) and ``render(ctx)`` (escaped HTML).
The page shows, in registry order, every section whose check passes, and lists the others with
what they need, so a reader knows what the cube does not hold rather than wondering.

Adding an outcome later (a crossover time ``t_overtake``, stability by threshold, risk,
regret) is one registration, with no change to the rest of the report::

    from rollout.report.sections import Section, register, has_function

    def _crossover(ctx):
        from rollout.analysis.crossover import crossover      # the new analysis
        ...
        return html.table(...) + html.paragraph("What the crossover month means ...")

    register(Section("crossover", "When the slower design overtakes",
                     available=lambda ctx: "t_overtake" in ctx.ds
                     and has_function("rollout.analysis.crossover", "crossover"),
                     render=_crossover, needs="the t_overtake variable"),
             after="headline")

Until then a new per-replicate variable is not lost: the section "Other outcomes" tables every
per-replicate variable of the cube that the headline does not show (its long_name, units, the
median per strategy and the paired difference against the baseline with its interval).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..experiment.names import config_field
from . import html
from .context import Context


@dataclass(frozen=True)
class Section:
    """One part of the page: shown when ``available(ctx)``; ``needs`` says what it needs when
    it is not (listed at the end of the page)."""

    key: str
    title: str
    available: Callable[[Context], bool]
    render: Callable[[Context], str]
    needs: str = ""


SECTIONS: list[Section] = []


def register(section: Section, after: str | None = None) -> Section:
    """Add (or replace, by key) a section, at the end or right after the section ``after``."""
    existing = [i for i, s in enumerate(SECTIONS) if s.key == section.key]
    if existing:
        SECTIONS[existing[0]] = section
        return section
    keys = [s.key for s in SECTIONS]
    SECTIONS.insert(keys.index(after) + 1 if after in keys else len(SECTIONS), section)
    return section


def has_function(module: str, name: str) -> bool:
    """Whether ``module`` exists and defines ``name`` (for sections of analyses that may not be
    there yet)."""
    try:
        return callable(getattr(importlib.import_module(module), name, None))
    except ImportError:
        return False


def _has(*names: str) -> Callable[[Context], bool]:
    return lambda ctx: all(n in ctx.ds.variables for n in names)


# --- what was run -----------------------------------------------------------------------------

def _provenance(ctx: Context) -> str:
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


# --- the headline comparison (a single run) ---------------------------------------------------

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


def _headline(ctx: Context) -> str:
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


def _other_metrics(ctx: Context) -> list[str]:
    """Per-replicate variables (strategy x replicate, no time axis) the headline leaves out."""
    from ..analysis import METRICS

    return [str(n) for n, v in ctx.ds.data_vars.items()
            if set(v.dims) == {"strategy", "replicate"} and n not in METRICS]


def _others(ctx: Context) -> str:
    metrics = _other_metrics(ctx)
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


# --- figures ----------------------------------------------------------------------------------

def _where(ctx: Context) -> str:
    """For a sweep: which design point the figures show."""
    if not ctx.is_sweep:
        return ""
    from ..analysis.figures import select_point

    _, label = select_point(ctx.ds, None)
    return (f" A sweep: shown at its first design point ({label}); rollout plot --at draws "
            "any other.")


def _coverage(ctx: Context) -> str:
    from ..analysis.figures import plot_coverage

    return html.figure(
        plot_coverage(ctx.ds), "National coverage over time by strategy",
        "Share of the nation's inpatient volume paid under the new rules, month by month. "
        f"Line: the median over the {ctx.replicates} simulated worlds; shaded band: the "
        "middle 90% of worlds (between the 5th and the 95th percentile), so the band shows how "
        "much the timing varies with luck in defects, detection and capacity." + _where(ctx))


def _harm(ctx: Context) -> str:
    from ..analysis.figures import plot_harm

    return html.figure(
        plot_harm(ctx.ds), "Cumulative harm and net benefit over time by strategy",
        "Left: harm from defects in the payment rules (and from gaming they allow), added up "
        "from the start. Right: benefit minus harm, added up from the start; the strategy whose "
        "line ends higher delivered more over the period. Benefit units: one unit is one month "
        "of the whole nation's benefit under correct rules. Line: median over the "
        f"{ctx.replicates} worlds; band: the middle 90% of worlds." + _where(ctx))


def _stages(ctx: Context) -> str:
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
        "coverage figure above summarises all of them." + _where(ctx))


# --- sweeps -----------------------------------------------------------------------------------

_SWEEP_METRICS = ("t_full", "t_stable", "net_benefit")


def _decided(ctx: Context) -> str:
    from ..analysis.compare import design_summary

    rows = design_summary(ctx.compare(_SWEEP_METRICS))
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


def _boxes(ctx: Context) -> str:
    from ..analysis.discover import CLAIMS, ClaimData, claim_outcome, design_table, discover

    x, dims = design_table(ctx.ds)
    result = ctx.compare(_SWEEP_METRICS)
    rows = []
    for s in ctx.strategies:
        if s == ctx.baseline:
            continue
        for claim in REPORT_CLAIMS:
            y = claim_outcome(result, s, claim, dims)
            held = f"{int(y.sum())} of {len(y)}"
            if y.sum() == 0 or y.sum() == len(y):
                rows.append([s, CLAIMS[claim], held,
                             "none: it holds nowhere" if y.sum() == 0
                             else "none needed: it holds everywhere", "-", "-", "-"])
                continue
            try:
                found = discover(ctx.ds, s, claim, ctx.baseline, resamples=0,
                                 confidence=ctx.confidence, data=ClaimData(x, dims, y))
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


def _switches(ctx: Context) -> list[str]:
    return [d for d in ctx.dims if d != "point" and ctx.ds[d].dtype == bool]


def _ablation(ctx: Context) -> str:
    from ..analysis.discover import ClaimData, ablation, claim_outcome, design_table

    x, dims = design_table(ctx.ds)
    result = ctx.compare(_SWEEP_METRICS)
    rows = []
    for s in ctx.strategies:
        if s == ctx.baseline:
            continue
        y = claim_outcome(result, s, "slower_is_faster", dims)
        table = ablation(ctx.ds, s, "slower_is_faster", ctx.baseline, ctx.confidence,
                         data=ClaimData(x, dims, y))
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


for _section in (
    Section("provenance", "What was run", lambda ctx: True, _provenance),
    Section("headline", "Headline: is the slower design faster in the end?",
            lambda ctx: not ctx.is_sweep and all(
                m in ctx.ds for m in ("t_full", "t_stable", "net_benefit")),
            _headline, "a single run with t_full, t_stable and net_benefit"),
    Section("others", "Other outcomes", lambda ctx: not ctx.is_sweep and bool(
        _other_metrics(ctx)), _others, "a single run with per-replicate variables"),
    Section("decided", "Across the design: where each strategy wins",
            lambda ctx: ctx.is_sweep and all(m in ctx.ds for m in _SWEEP_METRICS),
            _decided, "a sweep"),
    Section("boxes", "Where the claims hold (scenario discovery)",
            lambda ctx: ctx.is_sweep and all(m in ctx.ds for m in _SWEEP_METRICS),
            _boxes, "a sweep"),
    Section("ablation", "Which mechanisms the claim needs (switch ablation)",
            lambda ctx: ctx.is_sweep and bool(_switches(ctx)), _ablation,
            "a sweep with switch (true/false) dimensions"),
    Section("coverage", "Coverage over time", _has("national_coverage"), _coverage,
            "the national_coverage variable"),
    Section("harm", "Harm and net benefit over time", _has("harm", "benefit"), _harm,
            "the harm and benefit variables"),
    Section("stages", "Stages of the rollout, province by province", _has("stage"), _stages,
            "the stage variable"),
):
    register(_section)
