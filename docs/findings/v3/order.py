"""The support queue's order (configs/slower_is_faster_v3_order.toml: all five mechanisms on,
support.order x enforcement, the headline's 24 points). First a check: the cells in start order
are the headline cube's all-on cells, run for run (same points, same replicate worlds). Then, per
order and enforcement setting, big bang's median time to full coverage and, for each design, at
how many of the 24 points each claim holds (point estimate | decided for / against at 95%), and
at how many points phased's decision differs between two orders. Run from the repository root:
    python docs/findings/v3/order.py > docs/findings/v3/order.txt
"""

import os

import numpy as np
import pandas as pd

from rollout.analysis.compare import compare
from rollout.analysis.decided import claim_decision, point_estimate
from rollout.analysis.discover import design_table
from rollout.experiment.names import stored_name
from rollout.experiment.opening import open_cube

HEADLINE = os.environ.get("V3_CUBE", "results/slower_is_faster_v3.zarr")
ORDER = os.environ.get("V3_ORDER", "results/slower_is_faster_v3_order.zarr")
CLAIMS = ["full_later", "stable_first", "overtakes", "net_benefit_higher"]
DESIGNS = ["big_bang_matched", "phased", "dual_track", "adaptive"]
ENFORCEMENT = "entrenchment.enforcement.enabled"

order = open_cube(ORDER, finished=True)
head = open_cube(HEADLINE, finished=True)
all_on = {stored_name(f"{m}.enabled"): True for m in
          ("support", "spillovers", "legitimacy", "entrenchment", "track_fit")}
ORDER_DIM, ENFORCED_DIM = stored_name("support.order"), stored_name(ENFORCEMENT)
same = []
for enforcement in (False, True):
    a = order["t_full"].sel({ORDER_DIM: "start", ENFORCED_DIM: enforcement})
    b = head["t_full"].sel({**all_on, ENFORCED_DIM: enforcement})
    same.append(np.array_equal(np.asarray(a.transpose(*b.dims).values),
                               np.asarray(b.values), equal_nan=True))
print(f"start order against the headline's all-on cells, t_full of every run identical: "
      f"enforcement off {same[0]}, on {same[1]}")

x, dims = design_table(order)
result = compare(order, "big_bang", ("t_full", "t_stable", "net_benefit", "t_overtake"), 0.95)
t_full = order["t_full"].sel(strategy="big_bang")
print("\nbig bang's time to 99% coverage, months: median over the 24 points x 8 replicates "
      "(runs that never get there count as the horizon)")
for name in order[ORDER_DIM].values:
    for enforcement in (False, True):
        v = np.asarray(t_full.sel({ORDER_DIM: name, ENFORCED_DIM: enforcement}).values,
                       float).ravel()
        v = np.where(np.isfinite(v), v, 360.0)
        print(f"  {name:<15} enforcement {'on ' if enforcement else 'off'}: "
              f"{np.median(v):.1f} [90%: {np.quantile(v, 0.05):.1f}-{np.quantile(v, 0.95):.1f}]")
for design in DESIGNS:
    rows = {}
    for name in order[ORDER_DIM].values:
        for enforcement in (False, True):
            mask = ((x["support.order"].astype(str) == str(name)) &
                    (x[ENFORCEMENT].astype(str) == str(enforcement))).to_numpy()
            cells = {}
            for claim in CLAIMS:
                holds = point_estimate(result, design, claim, dims)
                decision = claim_decision(result, design, claim, dims)
                cells[claim] = (f"{holds[mask].sum():>2} | -" if decision is None else
                                f"{holds[mask].sum():>2} | {(decision[mask] == 1).sum():>2} / "
                                f"{(decision[mask] == -1).sum():>2}")
            rows[f"{name}, enforcement {'on' if enforcement else 'off'}"] = cells
    print(f"\n{design} against big bang (of 24 points)")
    print(pd.DataFrame(rows).T.to_string())

print("\nphased: points (of 24) whose decision (for / against / undecided) differs between two "
      "orders, per claim and enforcement setting (each pair of orders: start-longest, "
      "start-shortest, longest-shortest)")
names = [str(n) for n in order[ORDER_DIM].values]
for claim in ("full_later", "stable_first", "net_benefit_higher"):
    decision = claim_decision(result, "phased", claim, dims)
    parts = []
    for enforcement in (False, True):
        by = {}
        for name in names:
            mask = ((x["support.order"].astype(str) == name) &
                    (x[ENFORCEMENT].astype(str) == str(enforcement))).to_numpy()
            by[name] = decision[mask]
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
        parts.append(f"enforcement {'on' if enforcement else 'off'}: " + ", ".join(
            str(int((by[a] != by[b]).sum())) for a, b in pairs))
    print(f"  {claim:<19} " + "; ".join(parts))
