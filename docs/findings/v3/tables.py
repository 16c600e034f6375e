"""The headline experiment v3 by model structure: at how many of the 24 sampled points each claim
holds for each design against big bang, by the point estimate and as decided by the replicates
(for / against at 95%; undecided the rest), for the structures that say what a claim rests on:
every mechanism off, each alone, all five, all five less each one (the ablation from all on), and
all five with enforcement. Claims: full_later (later to 99% coverage: restricted mean difference
above 0), stable_first (stable first in most replicates at a harm threshold of 5%),
overtakes (cumulative net benefit overtakes big bang's for good within 30 years in most
replicates; no interval, point estimate only), net_benefit_higher (30-year undiscounted net
benefit higher: interval above 0). Enforcement only acts with entrenchment on; with entrenchment
off its two settings are the same runs, so the structures below all use enforcement off unless
named. With track fit off, big bang matched is big bang run for run, so its rows there are ties
(and "overtakes" holds trivially: t_overtake counts a tie as not behind); its totals use the
points with track fit on. Run from the repository root:
    python docs/findings/v3/tables.py > docs/findings/v3/tables.txt
"""

import os

import numpy as np
import pandas as pd

from rollout.analysis.compare import compare
from rollout.analysis.decided import claim_decision
from rollout.analysis.discover import claim_outcome, design_table
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

print(f"{CUBE}: {len(x)} design points (64 structures x 24 sampled points), "
      f"{cube.sizes['replicate']} replicates each")
print("cell: points where the claim holds by the point estimate (of 24) | decided for / against "
      "at 95% ('-': no interval)")
for design in DESIGNS:
    rows = {}
    for label, mask in STRUCTURES.items():
        cells = {}
        for claim in CLAIMS:
            holds = claim_outcome(result, design, claim, dims).astype(bool)
            decision = claim_decision(result, design, claim, dims)
            if decision is None:
                cells[claim] = f"{holds[mask].sum():>2} | -"
            else:
                cells[claim] = (f"{holds[mask].sum():>2} | {(decision[mask] == 1).sum():>2} / "
                                f"{(decision[mask] == -1).sum():>2}")
        rows[label] = cells
    print(f"\n{design} against big bang")
    print(pd.DataFrame(rows).T.to_string())

distinct = on["entrenchment"] | ~enforced
print(f"\nover the {distinct.sum()} distinct points (of 1,536: with entrenchment off, "
      "enforcement on repeats enforcement off run for run), points where each claim holds by the "
      "point estimate | decided for / against")
for design in DESIGNS:
    parts = []
    # with track fit off big bang matched is big bang, run for run (a tie everywhere)
    mask = distinct & on["track_fit"] if design == "big_bang_matched" else distinct
    for claim in CLAIMS:
        holds = claim_outcome(result, design, claim, dims).astype(bool)[mask]
        decision = claim_decision(result, design, claim, dims)
        decision = None if decision is None else decision[mask]
        tail = "" if decision is None else \
            f" ({(decision == 1).sum()} / {(decision == -1).sum()})"
        parts.append(f"{claim} {holds.sum()}{tail}")
    print(f"  {design:<17} ({mask.sum()} points) " + "; ".join(parts))
