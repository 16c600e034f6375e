"""Per model structure, how many of the 48 sampled points each claim holds at: every switch off,
each mechanism alone on, all on; and each switch's share on against off (from compare.csv).
Run from the repository root: python docs/findings/v2/tables.py > docs/findings/v2/combos.txt"""

import pandas as pd

SWITCHES = ["support.enabled", "spillovers.enabled", "legitimacy.enabled",
            "entrenchment.enabled", "track_fit.enabled"]
KEYS = [*SWITCHES, "point", "strategy"]

c = pd.read_csv("docs/findings/v2/compare.csv")
table = (c[c.metric == "t_stable"][[*KEYS, "stable_first"]]
         .merge(c[c.metric == "net_benefit"][[*KEYS, "low"]], on=KEYS)
         .merge(c[c.metric == "t_full"][[*KEYS, "restricted_low", "restricted_high"]], on=KEYS))
table = table[table.strategy != "big_bang"]
table["stable_first"] = table.stable_first > 0.5            # in most of the 12 replicates
table["net_benefit_higher"] = table.low > 0                  # 95% interval above 0
table["full_later"] = table.restricted_low > 0
table["faster_full"] = table.restricted_high < 0
table["slower_is_faster"] = table.full_later & table.stable_first
table["switches_on"] = table[SWITCHES].sum(axis=1)
claims = ["stable_first", "net_benefit_higher", "faster_full", "slower_is_faster"]

print("points (of 48 sampled) where each claim holds, by model structure")
for strategy in ("phased", "dual_track", "adaptive"):
    d = table[table.strategy == strategy]
    rows = {"all off": d[d.switches_on == 0]}
    rows.update({f"{s.split('.')[0]} alone": d[d[s] & (d.switches_on == 1)] for s in SWITCHES})
    rows["all on"] = d[d.switches_on == 5]
    out = pd.DataFrame({name: part[claims].sum() for name, part in rows.items()}).T
    print(f"\n{strategy}\n{out.to_string()}")
print("\nshare of the 768 points with the switch on / off where the claim holds")
for strategy in ("phased", "dual_track", "adaptive"):
    d = table[table.strategy == strategy]
    for claim in ("stable_first", "net_benefit_higher"):
        parts = [f"{s.split('.')[0]} {d[d[s]][claim].mean():.3f}/{d[~d[s]][claim].mean():.3f}"
                 for s in SWITCHES]
        print(f"  {strategy:<10} {claim:<19} " + "  ".join(parts))
print("\ntotals over all 1,536 points")
print(table.groupby("strategy")[claims].sum().to_string())
