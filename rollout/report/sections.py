"""The report's sections, in a registry: each says when it applies and how it renders.

A ``Section`` has a key, a title, ``available(ctx)`` (does this cube hold what the section
needs: a variable, a design dimension, an analysis function?) and ``render(ctx)`` (escaped HTML).
The page shows, in registry order, every section whose check passes, and lists the others with
what they need, so a reader knows what the cube does not hold rather than wondering.

Adding an outcome later (a crossover time ``t_overtake``, stability by threshold, risk,
regret) is one registration, with no change to the rest of the report: a renderer in a module
of its own, and one line in the list at the end of this module (or a ``register`` call in any
module imported before the page is built), for example::

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
from collections.abc import Callable
from dataclasses import dataclass

from .context import Context
from .crossover import crossover, crossover_available, stable, stable_available
from .downside import downside, regret, regret_available, risk_available
from .headline import headline_section, other_metrics, others
from .overview import coverage, harm, provenance, stages
from .sweep import SWEEP_METRICS, ablation, boxes, decided, phase, phase_parameters, switches


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


for _section in (
    Section("provenance", "What was run", lambda ctx: True, provenance),
    Section("headline", "Headline: is the slower design faster in the end?",
            lambda ctx: not ctx.is_sweep and all(
                m in ctx.ds for m in ("t_full", "t_stable", "net_benefit")),
            headline_section, "a single run with t_full, t_stable and net_benefit"),
    Section("crossover", "When piloting catches up (crossover)", crossover_available,
            crossover, "a single run with t_overtake (or the harm and benefit series)"),
    Section("stable_curve", "Stable first, by harm threshold", stable_available, stable,
            "a single run with t_stable_at (stable first at several harm thresholds)"),
    Section("risk", "Downside risk", risk_available, downside,
            "a single run with net_benefit"),
    Section("others", "Other outcomes", lambda ctx: not ctx.is_sweep and bool(
        other_metrics(ctx)), others, "a single run with per-replicate variables"),
    Section("decided", "Across the design: where each strategy wins",
            lambda ctx: ctx.is_sweep and all(m in ctx.ds for m in SWEEP_METRICS),
            decided, "a sweep"),
    Section("boxes", "Where the claims hold (scenario discovery)",
            lambda ctx: ctx.is_sweep and all(m in ctx.ds for m in SWEEP_METRICS),
            boxes, "a sweep"),
    Section("regret", "Robustness across the design (regret)", regret_available, regret,
            "a sweep with net_benefit and t_stable"),
    Section("phase", "Where the slower design is stable first (phase maps)",
            lambda ctx: "t_stable" in ctx.ds and len(phase_parameters(ctx)) >= 2, phase,
            "a sweep over at least two numeric parameters"),
    Section("ablation", "Which mechanisms the claim needs (switch ablation)",
            lambda ctx: ctx.is_sweep and bool(switches(ctx)), ablation,
            "a sweep with switch (true/false) dimensions"),
    Section("coverage", "Coverage over time", _has("national_coverage"), coverage,
            "the national_coverage variable"),
    Section("harm", "Harm and net benefit over time", _has("harm", "benefit"), harm,
            "the harm and benefit variables"),
    Section("stages", "Stages of the rollout, province by province", _has("stage"), stages,
            "the stage variable"),
):
    register(_section)
