"""Which model structure do China's dates favour? ABC model choice from the two calibration
records (configs/historical.abc.csv: the five mechanisms off; configs/historical_mechanisms.abc.csv:
on, their parameters over the evidence ranges), which share the targets, the common priors, the
seed and the number of draws. Pooling the draws and keeping the nearest share, the share of each
structure among the kept draws estimates its posterior probability under equal prior odds
(Grelaud et al. 2009); rejection ABC's tolerance matters, so three are shown. Then, within the
mechanisms' record, where in each mechanism parameter's prior the accepted draws lie (quintiles of
the prior, 400 draws each): a range the dates reject shows as a quintile with few accepted draws.
Run from the repository root:
    python docs/findings/v3/structures.py > docs/findings/v3/structures.txt
"""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

CONFIGS = {"mechanisms off": Path("configs/historical.toml"),
           "mechanisms on": Path("configs/historical_mechanisms.toml")}


def record(path: Path) -> pd.DataFrame:
    return pd.read_csv(path.with_name(f"{path.stem}.abc.csv"))


def targets(path: Path) -> list:
    return tomllib.loads(path.read_text())["calibration"]["targets"]


records = {name: record(path) for name, path in CONFIGS.items()}
assert targets(CONFIGS["mechanisms off"]) == targets(CONFIGS["mechanisms on"]), \
    "the two calibrations must share their targets"
pooled = pd.concat([r.assign(structure=name) for name, r in records.items()], ignore_index=True)
sizes = ", ".join(f"{len(r)} {n}" for n, r in records.items())
print(f"ABC model choice over {len(pooled)} draws ({sizes}), equal prior odds:")
rng = np.random.default_rng(20190101)      # the bootstrap's own generator, keyed by the seed


def on_share(frame: pd.DataFrame, share: float) -> float:
    kept = frame.nsmallest(int(round(share * len(frame))), "distance")
    return float((kept.structure == "mechanisms on").mean())


for share in (0.01, 0.025, 0.05, 0.10):
    kept = pooled.nsmallest(int(round(share * len(pooled))), "distance")
    counts = kept.structure.value_counts()
    parts = ", ".join(f"{name} {counts.get(name, 0) / len(kept):.0%}" for name in records)
    # bootstrap: each structure's draws resampled with replacement (200 resamples)
    boot = [on_share(pd.concat([r.sample(len(r), replace=True, random_state=rng).assign(
        structure=name) for name, r in records.items()], ignore_index=True), share)
        for _ in range(200)]
    lo, hi = np.quantile(boot, [0.05, 0.95])
    print(f"  nearest {share:.1%} ({len(kept)} draws, distance <= {kept.distance.max():.3g}): "
          f"{parts} (mechanisms on, bootstrap 90%: {lo:.0%}-{hi:.0%})")
print("\nper structure: distance quantiles of all draws (5%, 25%, 50%) and draws meeting every "
      "target (distance 0)")
for name, r in records.items():
    q = np.quantile(r.distance, [0.05, 0.25, 0.5])
    exact = int((r.distance == 0).sum())
    print(f"  {name:<15} {q[0]:.3g}, {q[1]:.3g}, {q[2]:.3g}; distance 0: {exact}")

on = records["mechanisms on"]
spec = tomllib.loads(CONFIGS["mechanisms on"].read_text())["calibration"]["parameters"]
mechanism_params = [p for p in spec if p.split(".")[0] in
                    ("support", "spillovers", "legitimacy", "entrenchment", "track_fit")]
print("\nmechanisms on: accepted draws per fifth of each mechanism parameter's prior "
      f"({int(on.accepted.sum())} accepted; even spread: {on.accepted.sum() / 5:.0f} a fifth)")
for p in mechanism_params:
    lo, hi = spec[p]["low"], spec[p]["high"]
    edges = np.linspace(lo, hi, 6)
    fifth = np.clip(np.digitize(on[p], edges[1:-1]), 0, 4)
    counts = np.bincount(fifth[on.accepted == 1], minlength=5)
    labels = " ".join(f"[{edges[i]:.3g}, {edges[i + 1]:.3g}): {counts[i]:>3}" for i in range(5))
    print(f"  {p:<30} {labels}")
