"""The headline experiment v3 by model structure: at how many of the 24 sampled points each claim
holds for each design against big bang, by the point estimate and as decided by the replicates
(for / against at 95%; undecided the rest), for the structures that say what a claim rests on:
every mechanism off, each alone, all five, all five less each one (the ablation from all on), and
all five with enforcement. Claims: full_later (later to 99% coverage: the restricted mean
difference above 0; decided: its interval), stable_first (stable first in most replicates at a
harm threshold of 5%; the 'against' points where neither design is ever stable are counted
apart: a tie, not a loss), overtakes (cumulative net benefit at or above big bang's for good
within 30 years in most replicates, split into points never behind and points that catch up,
with the median catch-up time; no interval), net_benefit_higher (30-year undiscounted net
benefit: the mean difference above 0; decided: its interval). Then the totals over the 1,152
distinct points, the sampled points that carry each claim's decided points (the 1,152 points
are 24 sampled points under 48 structures: a count of points is not a count of independent
worlds), and the 24 sampled points' defect load. Enforcement only acts with entrenchment on;
with entrenchment off its two settings are the same runs, so the structures below all use
enforcement off unless named. With track fit off, big bang matched is big bang run for run, so
its rows there are ties (counted as "never behind" and stable first "against"); its totals use
the points with track fit on. Run from the repository root:
    python docs/findings/v3/tables.py > docs/findings/v3/tables.txt
"""

import itertools
import os

import numpy as np
import pandas as pd
import xarray as xr

from rollout.analysis.compare import compare
from rollout.analysis.decided import claim_decision, point_estimate
from rollout.analysis.discover import design_table
from rollout.analysis.overtake import overtake_times
from rollout.experiment.opening import open_cube

CUBE = os.environ.get("V3_CUBE", "results/slower_is_faster_v3.zarr")
MECHANISMS = ["support", "spillovers", "legitimacy", "entrenchment", "track_fit"]
ENFORCEMENT = "entrenchment.enforcement.enabled"
CLAIMS = ["full_later", "stable_first", "overtakes", "net_benefit_higher"]
DESIGNS = ["big_bang_matched", "phased", "dual_track", "adaptive"]

cube = open_cube(CUBE, finished=True)
x, dims = design_table(cube)
result = compare(cube, "big_bang", ("t_full", "t_stable", "net_benefit", "t_overtake"), 0.95)
on = {m: (x[f"{m}.enabled"].astype(str) == "True").to_numpy() for m in MECHANISMS}
enforced = (x[ENFORCEMENT].astype(str) == "True").to_numpy()
n_on = np.sum([on[m] for m in MECHANISMS], axis=0)


def structure(active: set[str], enforcement: bool = False) -> np.ndarray:
    mask = np.ones(len(x), bool)
    for m in MECHANISMS:
        mask &= on[m] == (m in active)
    return mask & (enforced == enforcement)


STRUCTURES = {"all off": structure(set())}
STRUCTURES.update({f"{m} alone": structure({m}) for m in MECHANISMS})
STRUCTURES["all five"] = structure(set(MECHANISMS))
STRUCTURES.update({f"all but {m}": structure(set(MECHANISMS) - {m}) for m in MECHANISMS})
STRUCTURES["all five, enforced"] = structure(set(MECHANISMS), True)
STRUCTURES["entrenchment alone, enforced"] = structure({"entrenchment"}, True)


def flat(a) -> np.ndarray:
    """A (design..., replicate) array flattened like design_table's rows, replicate last."""
    return np.asarray(a.transpose(*dims, "replicate").values).reshape(len(x), -1)


t_stable = cube["t_stable"].load()
never = {s: flat(~np.isfinite(t_stable.sel(strategy=s))) for s in cube["strategy"].values}
t_over = overtake_times(cube, "big_bang").load()
point_of = flat(xr.broadcast(cube["point"], t_stable.sel(strategy="big_bang"))[0])[:, 0]


def cells(design: str, claim: str, mask: np.ndarray) -> str:
    """Point estimate | decided for / against, with the claim's own split (see the legend)."""
    holds = point_estimate(result, design, claim, dims)[mask]
    decision = claim_decision(result, design, claim, dims)
    if claim == "overtakes":
        t = flat(t_over.sel(strategy=design))[mask]
        median = np.median(np.where(np.isfinite(t), t, np.inf), axis=1)
        ahead = median == 0
        later = holds & ~ahead
        when = (f" {np.median(median[later]) / 12:4.1f}y" if later.any() else "      ")
        return f"{holds.sum():>3} = {ahead.sum():>3} + {later.sum():>3}{when}"
    against = decision[mask] == -1
    text = f"{holds.sum():>3} | {(decision[mask] == 1).sum():>3} / {against.sum():>3}"
    if claim == "stable_first":
        tie = (never["big_bang"] & never[design]).mean(axis=1)[mask] > 0.5
        text += f" ({(against & tie).sum():>3})"
    return text


def carriers(design: str, claim: str, mask: np.ndarray) -> str:
    """The sampled points carrying the decided-for rows: how many structures each."""
    decision = claim_decision(result, design, claim, dims)
    hits = pd.Series(point_of[mask & (decision == 1)]).value_counts()
    total = pd.Series(point_of[mask]).value_counts()
    return ", ".join(f"{p} ({n} of {total[p]})" for p, n in hits.items()) or "none"


LEGEND = (
    "cells: full_later, stable_first, net_benefit_higher: points where the claim holds by the "
    "point estimate (the mean difference on the claim's side; stable first in most replicates) "
    "| decided for / against at 95%; stable_first adds (in brackets) how many of the 'against' "
    "points are ties where neither design is ever stable within the horizon in most replicates "
    "(not a loss for the design); overtakes: points where cumulative net benefit is at or above "
    "big bang's for good within 30 years in most replicates = points never behind (median "
    "t_overtake 0) + points that catch up after falling behind, with the median catch-up time "
    "over those points (no interval)")
print(f"{CUBE}: {len(x)} design points (64 structures x 24 sampled points), "
      f"{cube.sizes['replicate']} replicates each")
print(LEGEND)
for design in DESIGNS:
    rows = {}
    for label, mask in STRUCTURES.items():
        rows[label] = {claim: cells(design, claim, mask) for claim in CLAIMS}
    print(f"\n{design} against big bang (of 24 sampled points)")
    print(pd.DataFrame(rows).T.to_string())

distinct = on["entrenchment"] | ~enforced
print(f"\nover the {distinct.sum()} distinct points (of 1,536: with entrenchment off, "
      "enforcement on repeats enforcement off run for run); cells as above")
for design in DESIGNS:
    # with track fit off big bang matched is big bang, run for run (a tie everywhere)
    mask = distinct & on["track_fit"] if design == "big_bang_matched" else distinct
    print(f"  {design:<17} ({mask.sum()} points) " + "; ".join(
        f"{claim} {cells(design, claim, mask)}" for claim in CLAIMS))

print("\nthe sampled points carrying the decided-for points (over the distinct points): "
      "sampled point (structures where decided for, of its distinct structures)")
for design in DESIGNS:
    mask = distinct & on["track_fit"] if design == "big_bang_matched" else distinct
    for claim in ("full_later", "stable_first", "net_benefit_higher"):
        print(f"  {design:<17} {claim:<19} {carriers(design, claim, mask)}")
    decision = claim_decision(result, design, "full_later", dims)
    hits = pd.Series(point_of[mask & (decision == -1)]).value_counts()
    print(f"  {design:<17} {'sooner to full':<19} " +
          (", ".join(f"{p} ({n})" for p, n in hits.items()) or "none"))

print(f"\nthe {cube.sizes['point']} sampled points: severity median, defects per track, "
      "detectability a month, "
      "legitimacy halt threshold, capacity of the poorest province")
columns = ["defects.severity_median", "defects.mean_count", "defects.detectability_median",
           "legitimacy.halt_threshold", "regions.capacity_low"]
values = x.assign(point=point_of).groupby("point")[columns].first()
for p, row in values.iterrows():
    print(f"  point {p:>2}: " + ", ".join(f"{row[c]:.3g}" for c in columns))

print("\nper claim, the range over structures of the points (of 24) where it holds, point estimate "
      "(decided for), in the 16 structures without entrenchment and the 16 with it (enforcement "
      "off)")
others = [m for m in MECHANISMS if m != "entrenchment"]
for design in ("phased", "dual_track", "adaptive"):
    for claim in ("stable_first", "full_later", "net_benefit_higher"):
        holds = point_estimate(result, design, claim, dims)
        decision = claim_decision(result, design, claim, dims)
        text = []
        for entrenched in (False, True):
            counts = []
            for combo in itertools.product([False, True], repeat=len(others)):
                mask = ~enforced & (on["entrenchment"] == entrenched)
                for m, value in zip(others, combo, strict=True):
                    mask &= on[m] == value
                counts.append((holds[mask].sum(), (decision[mask] == 1).sum()))
            pe, dec = zip(*counts, strict=True)
            text.append(f"{'with' if entrenched else 'without'} entrenchment {min(pe)}-{max(pe)} "
                        f"({min(dec)}-{max(dec)})")
        print(f"  {design:<11} {claim:<19} " + "; ".join(text))

sooner = claim_decision(result, "phased", "full_later", dims) == -1
suspensions = flat(cube["suspensions"].load().sel(strategy="big_bang")).mean(axis=1)
theirs = flat(cube["suspensions"].load().sel(strategy="phased")).mean(axis=1)
where = sooner & distinct


def spread(v: np.ndarray) -> str:
    return (f"{np.quantile(v, 0.1):.0f}-{np.quantile(v, 0.9):.0f}" if v.size else "-")


print(f"\nphased decided sooner to full coverage: {sooner.sum()} rows of {len(x)} "
      f"({where.sum()} distinct), {(where & on['legitimacy']).sum()} of the distinct with "
      "legitimacy on; suspensions a run (mean over replicates) there: big bang "
      f"{spread(suspensions[where])}, phased {spread(theirs[where])} (10th-90th percentile "
      "over the points)")

behind = flat(t_over.sel(strategy="phased"))
never_behind = np.median(np.where(np.isfinite(behind), behind, np.inf), axis=1) == 0
hits = pd.Series(point_of[never_behind & distinct]).value_counts()
print("\nphased never behind big bang in cumulative net benefit (median t_overtake 0), by sampled "
      "point (distinct points): " + (", ".join(f"{p} ({n})" for p, n in hits.items()) or "none"))
