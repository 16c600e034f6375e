"""The referee's checks of the headline experiment v3, rerun from the repository root (every
number docs/findings.md attributes to "a referee" comes from here):

1. replicate noise: the 24 sampled points with all five mechanisms on (enforcement off and on)
   rerun with phased and big bang in 8 fresh replicate worlds (seed 777001 instead of the
   sweep's), decided as the sweep decides them (compare, then claim_decision), against the
   sweep's own decisions at the same points;
2. what legitimacy's "phased sooner to full coverage" rests on: points 1 and 23 with
   legitimacy alone, each of its channels and unswept parameters changed one at a time (phased
   minus big bang in restricted months to 99% coverage, and suspensions a run);
3. what decides stable first under enforcement: the Spearman rank correlation, over the 24
   sampled points, of phased's share of replicates stable first (5%) with each swept parameter;
4. how big big bang matched's shifts are: per design point with track fit on, the mean paired
   difference in restricted months to full coverage and in net benefit relative to big bang's.

About 5 minutes on one core:
    python docs/findings/v3/checks.py > docs/findings/v3/checks.txt
"""

import json
import os

import numpy as np
import scipy.stats

import rollout
from rollout.analysis.compare import compare
from rollout.analysis.decided import claim_decision
from rollout.analysis.predictive import as_cube
from rollout.analysis.survival import horizon_of, restricted
from rollout.config import validate_dict
from rollout.experiment.names import stored_name
from rollout.experiment.opening import open_cube

CUBE = os.environ.get("V3_CUBE", "results/slower_is_faster_v3.zarr")
CONFIG = "configs/slower_is_faster_v3.toml"
MECHANISMS = ["support", "spillovers", "legitimacy", "entrenchment", "track_fit"]
ENFORCED = stored_name("entrenchment.enforcement.enabled")
VARIABLES = ("t_full", "t_stable", "net_benefit")
CLAIMS = ("full_later", "stable_first", "net_benefit_higher")

cube = open_cube(CUBE, finished=True)
HORIZON = horizon_of(cube)
swept = json.loads(cube.attrs["config"])["sweep"]["parameters"]
numeric = [k for k, v in swept.items() if isinstance(v, dict)]
whole = {"support.teams"}


def structure(active: set[str], enforced: bool) -> dict:
    return {**{stored_name(f"{m}.enabled"): m in active for m in MECHANISMS},
            ENFORCED: enforced}


def point_values(p: int) -> dict:
    """The swept parameters of sampled point ``p`` as the sweep set them."""
    at = cube.isel(point=p)
    return {k: (int(round(float(at[stored_name(k)]))) if k in whole
                else float(at[stored_name(k)])) for k in numeric}


def run_point(p: int, active: set[str], enforced: bool, extra: dict | None = None,
              seed: int | None = None):
    """Phased and big bang at sampled point ``p`` under a structure, as one run's cube."""
    sets = {**point_values(p), **{f"{m}.enabled": m in active for m in MECHANISMS},
            "entrenchment.enforcement.enabled": enforced, **(extra or {})}
    config = rollout.load_config(CONFIG, set=sets, seed=seed)
    data = json.loads(config.canonical_json())
    data.pop("sweep", None)
    data["strategies"] = {k: v for k, v in data["strategies"].items()
                          if k in ("big_bang", "phased")}
    return rollout.run(validate_dict(data))


def decisions(values: dict) -> dict:
    """Per claim, phased's decision at each point (+1 for, -1 against, 0 undecided)."""
    result = compare(as_cube(values, ["big_bang", "phased"], HORIZON), "big_bang", VARIABLES)
    return {c: claim_decision(result, "phased", c, ["point"]) for c in CLAIMS}


print("1. replicate noise: all five mechanisms on, the 24 sampled points, phased against big "
      "bang; decided for / against in the sweep's 8 worlds and in 8 fresh ones (seed 777001); "
      "points whose decision differs; for <-> against flips")
for enforced in (False, True):
    here = cube.sel(structure(set(MECHANISMS), enforced)).sel(strategy=["big_bang", "phased"])
    sweep_values = {v: np.asarray(here[v].transpose("point", "strategy", "replicate").values,
                                  float) for v in VARIABLES}
    fresh = [run_point(p, set(MECHANISMS), enforced, seed=777001) for p in range(24)]
    fresh_values = {v: np.stack([np.asarray(c[v].sel(strategy=["big_bang", "phased"])
                                            .transpose("strategy", "replicate").values, float)
                                 for c in fresh]) for v in VARIABLES}
    a, b = decisions(sweep_values), decisions(fresh_values)
    print(f"  enforcement {'on ' if enforced else 'off'}: " + "; ".join(
        f"{c} {int((a[c] == 1).sum())} / {int((a[c] == -1).sum())} -> "
        f"{int((b[c] == 1).sum())} / {int((b[c] == -1).sum())}, differ at "
        f"{int((a[c] != b[c]).sum())}, flip at {int((a[c] * b[c] == -1).sum())}"
        for c in CLAIMS))

print("\n2. legitimacy alone at points 1 and 23: phased minus big bang, restricted months to 99% "
      "coverage (mean over 8 replicates); suspensions a run, big bang / phased")
variants = [("every mechanism off", set(), {}),
            ("legitimacy alone, as swept", {"legitimacy"}, {}),
            ("no pause (halt_threshold 0)", {"legitimacy"}, {"legitimacy.halt_threshold": 0.0}),
            ("pause only (slowing 0)", {"legitimacy"}, {"legitimacy.slowing": 0.0}),
            ("national_drop 0.01", {"legitimacy"}, {"legitimacy.national_drop": 0.01}),
            ("national_drop 0.2", {"legitimacy"}, {"legitimacy.national_drop": 0.2}),
            ("recovery_months 36", {"legitimacy"}, {"legitimacy.recovery_months": 36.0}),
            ("halt_months 0", {"legitimacy"}, {"legitimacy.halt_months": 0.0}),
            ("halt_months 24", {"legitimacy"}, {"legitimacy.halt_months": 24.0})]
for label, active, extra in variants:
    parts = []
    for p in (1, 23):
        c = run_point(p, active, False, extra)
        full = restricted(c["t_full"].astype(float), HORIZON)
        t = full.sel(strategy="phased") - full.sel(strategy="big_bang")
        s = c["suspensions"]
        parts.append(f"point {p}: {np.mean(t):+6.1f} months, suspensions "
                     f"{float(s.sel(strategy='big_bang').mean()):.0f} / "
                     f"{float(s.sel(strategy='phased').mean()):.0f}")
    print(f"  {label:<28} " + "; ".join(parts))

print("\n3. all five on and enforced: Spearman rank correlation over the 24 sampled points of "
      "phased's share of replicates stable first at 5% with each swept parameter (p-value)")
here = cube.sel(structure(set(MECHANISMS), True))
mine = here["t_stable"].sel(strategy="phased").fillna(np.inf)
theirs = here["t_stable"].sel(strategy="big_bang").fillna(np.inf)
share = np.asarray((mine < theirs).mean("replicate").transpose("point").values, float)
rows = []
for k in numeric:
    rho, pvalue = scipy.stats.spearmanr(share, np.asarray(cube[stored_name(k)].values, float))
    rows.append((abs(rho), k, rho, pvalue))
for _, k, rho, pvalue in sorted(rows, reverse=True)[:6]:
    print(f"  {k:<38} {rho:+.2f} (p {pvalue:.2g})")

print("\n4. big bang matched against big bang, per distinct design point with track fit on "
      "(mean over replicates): median and 5th percentile over the points")
fit_on = cube.sel({stored_name("track_fit.enabled"): True})
tf = restricted(fit_on["t_full"].astype(float), HORIZON)
d_full = (tf.sel(strategy="big_bang_matched") - tf.sel(strategy="big_bang")).mean("replicate")
nb = fit_on["net_benefit"]
rel = ((nb.sel(strategy="big_bang_matched") - nb.sel(strategy="big_bang")).mean("replicate")
       / nb.sel(strategy="big_bang").mean("replicate"))
# the distinct points: with entrenchment off, enforcement on repeats enforcement off
distinct = (fit_on[stored_name("entrenchment.enabled")] | ~fit_on[ENFORCED])
for label, x, unit in (("months to full coverage", d_full, " months"),
                       ("net benefit, share of big bang's", rel * 100, "%")):
    x, keep = x.broadcast_like(distinct), distinct.broadcast_like(x)
    v = np.asarray(x.values, float)[np.asarray(keep.values, bool)]
    print(f"  {label:<34} median {np.median(v):+.1f}{unit}, 5th percentile "
          f"{np.quantile(v, 0.05):+.1f}{unit} ({v.size} points)")
