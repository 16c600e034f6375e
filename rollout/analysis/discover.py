"""Scenario discovery: the boxes of swept-parameter space where a claim holds (PRIM).

Each design point of a sweep cube is one case: its inputs are the swept parameters (numbers, or
categories for switches and scenarios), its outcome whether the claim holds there for a strategy
against the baseline (compare.py, replicate-paired). The Patient Rule Induction Method (Friedman
and Fisher 1999) peels the box of all cases, a few percent at a time, towards the cases where the
claim holds; each step trades coverage (share of the claim's cases inside the box) for density
(share of the box's cases where it holds). We use the ``PRIM`` package (Project Platypus, the
PRIM of EMA Workbench by the same authors as a small library: numeric, discrete and categorical
inputs, with the quasi-p-value of each restriction); EMA Workbench itself would bring
scikit-learn, statsmodels and seaborn for the same algorithm.

The box reported is the step of the peeling trajectory with the largest coverage among those
whose density reaches ``min_density`` (else the densest). Its stability is checked by resampling
the sampled points with replacement, each with all its rows (every switch combination it ran
under: a cluster bootstrap, clustering.py), and rerunning the whole procedure: how often each
parameter is restricted, and how much its limits move.

PRIM's input, whether the claim holds at a point, is either the claim as defined (``point``:
stable first by the point estimate of the share) or ``significant``: only the points where the
replicates decide for the claim at the stated level (decided.py). Both runs print the decided
counts (significant for, against, undecided) beside the point-estimate count.
"""

from __future__ import annotations

import math
import operator
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import RolloutError
from .clustering import clustering_of, point_clusters, varying_switches
from .compare import compare
from .decided import Counts, claim_decision, counts, point_estimate
from .design_table import design_frame

#: PRIM's input: the claim as defined (point estimates), or significant-for points only
OUTCOMES = ("point", "significant")

#: named claims: (compare variable, test) evaluated per design point
CLAIMS = {
    "stable_first": "stable first in most replicates (stable_first > 0.5)",
    "net_benefit_higher": "more net benefit, the interval above 0 (low_net_benefit > 0)",
    "full_later": "later to full coverage, the restricted interval above 0 (rlow_t_full > 0)",
    "faster_full": "sooner to full coverage, the restricted interval below 0 (rhigh_t_full < 0)",
    "slower_is_faster": "later to full coverage and stable first in most replicates "
                        "(rlow_t_full > 0 and stable_first > 0.5)",
    "overtakes": "cumulative net benefit overtakes the baseline's for good by the horizon in "
                 "most replicates (censored_t_overtake < 0.5)",
    "overtakes_within_20y": "overtakes the baseline's cumulative net benefit for good within "
                            "20 years in most replicates (any N: overtakes_within_Ny)",
}
_WITHIN = re.compile(r"^overtakes_within_(\d+(?:\.\d+)?)y$")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_THRESHOLD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


@dataclass
class Discovery:
    strategy: str
    baseline: str
    claim: str
    cases: int                       # design points
    positives: int                   # points where the claim holds
    limits: pd.DataFrame             # restricted parameters: min, max (or a set), qp value
    coverage: float
    density: float
    mass: float                      # share of the design points in the box (support)
    in_box: int
    trajectory: pd.DataFrame         # coverage, density, mass, res dim per peeling step
    chosen: int                      # the step reported
    stability: pd.DataFrame = field(default_factory=pd.DataFrame)
    resamples: int = 0
    maxima: dict[str, float] = field(default_factory=dict)   # each numeric input's largest
    outcome: str = "point"           # PRIM's input: "point" (as defined) or "significant"
    decided: Counts | None = None    # significant for / against / undecided
    confidence: float = 0.95
    clustering: str = ""             # how the stability bootstrap grouped rows


def design_table(cube: xr.Dataset) -> tuple[pd.DataFrame, list[str]]:
    """One row per design point (in compare's flattening order) with the swept inputs, numbers
    as numbers and switches or scenarios as categories."""
    frame, dims = design_frame(cube)
    return pd.DataFrame({c: _column(frame[c].to_numpy()) for c in frame.columns}), dims


def _column(values: np.ndarray) -> pd.Series | np.ndarray:
    """Numbers stay numbers; booleans and labels become categories (PRIM peels them as sets)."""
    values = np.asarray(values)
    if values.dtype.kind in "fiu":
        return values.astype(float)
    return pd.Series(values.astype(str)).astype("category")


def claim_outcome(result: xr.Dataset, strategy: str, claim: str, dims: list[str]) -> np.ndarray:
    """1 where the claim holds at a design point, else 0 (flattened like design_table)."""
    row = result.sel(strategy=strategy).transpose(*dims)
    if claim == "stable_first":
        values = row["stable_first"].values > 0.5
    elif claim == "net_benefit_higher":
        values = row["low_net_benefit"].values > 0.0
    elif claim == "full_later":
        values = row["rlow_t_full"].values > 0.0
    elif claim == "faster_full":
        values = row["rhigh_t_full"].values < 0.0
    elif claim == "slower_is_faster":
        values = (row["rlow_t_full"].values > 0.0) & (row["stable_first"].values > 0.5)
    elif claim == "overtakes":
        values = row["censored_t_overtake"].values < 0.5
    elif _WITHIN.match(claim):
        values = row["overtake_within"].values > 0.5
    else:
        match = _THRESHOLD.match(claim)
        if not match:
            raise RolloutError(f"claim {claim!r}: use one of {', '.join(CLAIMS)} or "
                               "'VARIABLE OP VALUE' (for example 'rdiff_t_stable < 0')")
        name, op, text = match.groups()
        try:
            value = float(text)
        except ValueError:
            raise RolloutError(f"claim {claim!r}: {text!r} is not a number") from None
        if name not in row:
            known = sorted(v for v in row.data_vars if row[v].dims == tuple(dims))
            raise RolloutError(f"claim {claim!r}: {name!r} is not a compare variable "
                               f"(choose from {', '.join(known)})")
        values = _OPS[op](row[name].values, value)
    return np.asarray(values, bool).ravel().astype(int)


def metrics_for(claim: str, cube: xr.Dataset | None = None) -> tuple[str, ...]:
    """The compare metrics a claim needs: the headline ones, and a variable it names."""
    base = ("t_full", "t_stable", "net_benefit")
    if claim == "overtakes" or _WITHIN.match(claim) or "t_overtake" in claim:
        return (*base, "t_overtake")
    match = _THRESHOLD.match(claim)
    if match and cube is not None:
        name = match.group(1)
        extra = [m for m in cube.data_vars if name.endswith(f"_{m}") and m not in base
                 and "replicate" in cube[m].dims and "time" not in cube[m].dims]
        return base + tuple(extra[:1])
    return base


@dataclass
class ClaimData:
    """The design table of a sweep and, per design point, whether a claim holds for a strategy
    (what both ``discover`` and ``ablation`` read: compute it once with ``claim_data``)."""

    x: pd.DataFrame
    dims: list[str]
    y: np.ndarray                     # PRIM's input (1: the claim holds), per ``outcome``
    outcome: str = "point"
    decision: np.ndarray | None = None   # +1 significant for, -1 against, 0 undecided
    point: np.ndarray | None = None      # where it holds by the point estimate (decided.py)
    confidence: float = 0.95


def claim_data(cube: xr.Dataset, strategy: str, claim: str, baseline: str = "big_bang",
               confidence: float = 0.95, outcome: str = "point") -> ClaimData:
    """Compare ``strategy`` with ``baseline`` at every design point and evaluate the claim:
    as defined (``outcome="point"``) or where it holds significantly (``"significant"``)."""
    if outcome not in OUTCOMES:
        raise RolloutError(f"outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    x, dims = design_table(cube)
    if strategy == baseline:
        raise RolloutError("the strategy and the baseline are the same")
    result = compare_for_claim(cube, baseline, claim, confidence)
    if strategy not in [str(s) for s in result["strategy"].values]:
        raise RolloutError(f"strategy {strategy!r} is not in the cube")
    defined = claim_outcome(result, strategy, claim, dims)
    decision = claim_decision(result, strategy, claim, dims)
    point = point_estimate(result, strategy, claim, dims)
    if outcome == "significant":
        if decision is None:
            raise RolloutError(f"claim {claim!r}: its variable has no interval, so no point is "
                               "significant for it; use --outcome point")
        y = (decision == 1).astype(int)
    else:
        y = defined
    return ClaimData(x, dims, y, outcome, decision, point, confidence)


def check_claim(claim: str) -> None:
    """Refuse, in one line, a claim that is neither named nor 'VARIABLE OP VALUE'."""
    if claim not in CLAIMS and not _WITHIN.match(claim) and not _THRESHOLD.match(claim):
        raise RolloutError(f"claim {claim!r}: use one of {', '.join(CLAIMS)} or 'VARIABLE OP "
                           "VALUE' (for example 'rdiff_t_stable < 0')")


def compare_for_claim(cube: xr.Dataset, baseline: str, claim: str, confidence: float = 0.95
                      ) -> xr.Dataset:
    """``compare`` with the metrics a claim needs, and for ``overtakes_within_Ny`` the share of
    replicates overtaking within N years, which claim_outcome and claim_decision read."""
    result = compare(cube, baseline, metrics_for(claim, cube), confidence)
    within = _WITHIN.match(claim)
    if within:
        result["overtake_within"] = _overtake_within(cube, baseline, float(within.group(1)))
    return result


def _overtake_within(cube: xr.Dataset, baseline: str, years: float) -> xr.DataArray:
    """Share of replicates whose t_overtake is at most ``years`` (refused beyond the runs'
    horizon, where 'not yet' cannot be told from 'never')."""
    from .overtake import overtake_times
    from .survival import horizon_of

    if 12.0 * years > horizon_of(cube):
        raise RolloutError(f"claim overtakes_within_{years:g}y: the runs end at month "
                           f"{horizon_of(cube):g}, before {12 * years:g}")
    return (overtake_times(cube, baseline) <= 12.0 * years).mean("replicate").compute()


def discover(cube: xr.Dataset, strategy: str, claim: str, baseline: str = "big_bang",
             min_density: float = 0.8, peel_alpha: float = 0.05, resamples: int = 50,
             seed: int = 0, confidence: float = 0.95, data: ClaimData | None = None
             ) -> Discovery:
    """PRIM box of the design points where ``claim`` holds for ``strategy`` (``data``: from
    ``claim_data`` with the same arguments, when already computed)."""
    data = data or claim_data(cube, strategy, claim, baseline, confidence)
    x, dims, y = data.x, data.dims, data.y
    if y.sum() == 0:
        raise RolloutError(f"the claim {claim!r} holds at none of the {len(y)} design points "
                           f"for {strategy}: there is no box to find")
    found = _prim(x, y, min_density, peel_alpha)
    groups = sampled_points(cube, x, dims)
    found.update(strategy=strategy, baseline=baseline, claim=claim, cases=len(y),
                 positives=int(y.sum()),
                 maxima={c: float(x[c].max()) for c in x.columns if x[c].dtype.kind == "f"},
                 outcome=data.outcome, confidence=data.confidence,
                 decided=None if data.decision is None else counts(
                     data.decision, data.point if data.point is not None else y),
                 clustering=clustering_of(groups, varying_switches(cube, dims)).describe())
    discovery = Discovery(**found)
    if resamples:
        discovery.stability = _stability(x, y, min_density, peel_alpha, resamples, seed,
                                         groups)
        discovery.resamples = resamples
    return discovery


#: Which sampled point each row of the design table is (clustering.point_clusters; the name
#: kept for callers of this module).
sampled_points = point_clusters


#: Share of points a pasting step may add (the ``prim`` package's default; independent of the
#: peeling share the caller chooses).
PASTE_ALPHA = 0.05


def _prim(x: pd.DataFrame, y: np.ndarray, min_density: float, peel_alpha: float) -> dict:
    import prim

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # pandas FutureWarnings inside the package
        box = prim.Prim(x, y, threshold=0.5, threshold_type=">", peel_alpha=peel_alpha,
                        paste_alpha=PASTE_ALPHA).find_box()
        trajectory = box.peeling_trajectory.reset_index(drop=True)
        ok = trajectory.index[trajectory["density"] >= min_density - 1e-12]
        chosen = int(trajectory.loc[ok, "coverage"].idxmax()) if len(ok) else \
            int(trajectory["density"].idxmax())
        box.select(chosen)
        limits = box.limits.copy()
        in_box = len(box.yi)
    row = trajectory.loc[chosen]
    return {"limits": limits, "coverage": float(row["coverage"]),
            "density": float(row["density"]), "mass": float(row["mass"]), "in_box": in_box,
            "trajectory": trajectory[["coverage", "density", "mass", "res dim"]],
            "chosen": chosen}


def _stability(x: pd.DataFrame, y: np.ndarray, min_density: float, peel_alpha: float,
               resamples: int, seed: int, groups: np.ndarray | None = None) -> pd.DataFrame:
    """Per parameter: share of bootstrap resamples restricting it, and the spread of its
    numeric limits (5th-95th percentile of min and max over the resamples restricting it).
    ``groups``: the sampled point of each row; points are resampled with all their rows."""
    rng = np.random.default_rng(seed)
    restricted: dict[str, list] = {c: [] for c in x.columns}
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    members = [np.flatnonzero(groups == g) for g in range(groups.max() + 1)]
    used = 0
    for _ in range(resamples):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        if y[idx].sum() == 0:
            continue
        used += 1
        limits = _prim(x.iloc[idx].reset_index(drop=True), y[idx], min_density,
                       peel_alpha)["limits"]
        for c in limits.index:
            restricted[c].append((limits.loc[c, "min"], limits.loc[c, "max"]))
    rows = []
    for c in x.columns:
        hits = restricted[c]
        numeric = [h for h in hits if isinstance(h[0], (int, float, np.floating))]
        lows = np.array([h[0] for h in numeric], float)
        highs = np.array([h[1] for h in numeric], float)
        rows.append({"parameter": c, "restricted_share": len(hits) / max(used, 1),
                     "min_p5": _pct(lows, 5), "min_p95": _pct(lows, 95),
                     "max_p5": _pct(highs, 5), "max_p95": _pct(highs, 95)})
    return pd.DataFrame(rows).set_index("parameter")


def ablation(cube: xr.Dataset, strategy: str, claim: str, baseline: str = "big_bang",
             confidence: float = 0.95, data: ClaimData | None = None) -> pd.DataFrame:
    """Which switches (boolean design dimensions, crossed with the same sampled points) the
    claim needs. Per switch: the share of design points where the claim holds with it on and
    with it off (the same points, the other switches alike), whether it is necessary (the claim
    holds nowhere with it off, somewhere with it on) and whether it is sufficient (the claim
    holds somewhere with it alone on). Empty if the cube has no switch dimensions; a switch held
    at one value is left out (it has no other side to compare). ``data``: from ``claim_data``
    with the same arguments, when already computed."""
    x, dims = design_table(cube)
    switches = varying_switches(cube, dims)
    if not switches:
        return pd.DataFrame()
    data = data or claim_data(cube, strategy, claim, baseline, confidence)
    y = data.y.astype(bool)
    on = {s: (x[s].astype(str) == "True").to_numpy() for s in switches}
    # the same design point at every combination of switches: the other columns' values
    key = pd.Series(list(zip(*[x[c].astype(str) for c in x.columns if c not in switches],
                              strict=True))) if len(x.columns) > len(switches) else \
        pd.Series([()] * len(y))
    none_on = np.all([~on[s] for s in switches], axis=0)
    holds_all_off = set(key[none_on & y])
    rows = []
    for s in switches:
        others_off = np.all([~on[o] for o in switches if o != s], axis=0) if len(switches) > 1 \
            else np.ones(len(y), bool)
        alone = on[s] & others_off & y
        rows.append({"switch": s, "holds_on": float(y[on[s]].mean()),
                     "holds_off": float(y[~on[s]].mean()),
                     "necessary": bool(y[on[s]].any() and not y[~on[s]].any()),
                     # with it alone on, at a point where it does not hold with all off
                     "sufficient": bool(any(k not in holds_all_off for k in key[alone]))})
    rows.append({"switch": "(all off)", "holds_on": math.nan,
                 "holds_off": float(y[none_on].mean()), "necessary": False,
                 "sufficient": bool(y[none_on].any())})
    return pd.DataFrame(rows).set_index("switch")


def format_ablation(table: pd.DataFrame) -> str:
    if table.empty:
        return ""
    lines = ["ablation over switches (same sampled points at every combination): share of "
             "points where the claim holds with the switch on / off; necessary: nowhere with "
             "it off; sufficient: with it alone on, at a point where it does not hold with "
             "every switch off"]
    for name, row in table.iterrows():
        on = "" if math.isnan(row["holds_on"]) else f"on {row['holds_on']:.0%} / "
        lines.append(f"  {name:<32} {on}off {row['holds_off']:.0%}"
                     + ("  necessary" if row["necessary"] else "")
                     + ("  sufficient" if row["sufficient"] else ""))
    return "\n".join(lines)


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else math.nan


def format_discovery(d: Discovery) -> str:
    """The box, its coverage, density and support, and its stability under resampling."""
    what = CLAIMS.get(d.claim, d.claim)
    used = ("significant: the points where the replicates decide for the claim at the "
            f"{d.confidence:.0%} level" if d.outcome == "significant" else
            "point estimate: the claim as defined above")
    lines = [f"claim: {d.strategy} against {d.baseline}: {what}",
             f"PRIM's input: {used}",
             f"holds at {d.positives} of {d.cases} design points "
             f"(base density {d.positives / d.cases:.2f})"]
    if d.decided is not None:
        lines.append("decided: " + d.decided.describe(d.confidence))
    else:
        lines.append("decided: n/a (the claim's variable has no interval; point estimate only)")
    lines += [
             f"box (peeling step {d.chosen} of {len(d.trajectory) - 1}): coverage "
             f"{d.coverage:.2f}, density {d.density:.2f}, support {d.in_box} points "
             f"(mass {d.mass:.2f}), {len(d.limits)} restricted parameters"]
    for name, row in d.limits.iterrows():
        lines.append(f"  {name:<40} {_limit(row['min'], row['max']):<32} "
                     f"qp {float(row['qp values']):.2g}")
    if d.resamples:
        lines.append(f"stability over {d.resamples} cluster-bootstrap resamples ("
                     f"{d.clustering}; share restricting each parameter; 5-95% range of its "
                     "limits):")
        for name, row in d.stability.iterrows():
            spread = "" if math.isnan(row["min_p5"]) else (
                f"  min {row['min_p5']:.3g}-{row['min_p95']:.3g}, "
                f"max {row['max_p5']:.3g}-{row['max_p95']:.3g}")
            lines.append(f"  {name:<40} {row['restricted_share']:.0%}{spread}")
    return "\n".join(lines)


def _limit(low, high) -> str:
    if isinstance(low, (set, frozenset)):
        return "in {" + ", ".join(sorted(map(str, low))) + "}"
    return f"[{float(low):.4g}, {float(high):.4g}]"


def plot_trajectory(d: Discovery):
    """The peeling trajectory: density against coverage, coloured by restricted dimensions,
    the reported box ringed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    t = d.trajectory
    points = ax.scatter(t["coverage"], t["density"], c=t["res dim"], cmap="viridis", s=24)
    ax.scatter([d.coverage], [d.density], s=160, facecolors="none", edgecolors="crimson",
               linewidths=1.5, label=f"reported box (step {d.chosen})")
    ax.set_xlabel("coverage (share of the claim's points inside the box)")
    ax.set_ylabel("density (share of the box's points where it holds)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"PRIM peeling: {d.strategy}, {d.claim}", fontsize=10)
    fig.colorbar(points, ax=ax, label="restricted parameters")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig
