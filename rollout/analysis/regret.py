"""Robustness across a sweep's design (deep uncertainty): regret, and the minimax-regret choice.

At each design point a strategy's outcome is its mean over replicates: net benefit (higher is
better) and the restricted mean of t_stable, min(t, H) (lower is better). Its regret there is
the best strategy's outcome minus its own (net benefit), or its own minus the best (t_stable):
0 for the best, never negative. Across the design points each strategy has a maximum and a 90th
percentile (numpy's linear quantile) of regret, and a satisficing share: the points where its
regret is at most the tolerance (``analysis.risk_margin`` benefit units; ``time_tolerance``
months). The minimax-regret strategy has the smallest maximum regret (ties: the first in the
cube's order). It is given pooled over the design and for each combination of the swept
switches (the boolean design dimensions: each a model structure). t_overtake has no regret of
its own: it is measured against the baseline, which never lags itself.
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from ..errors import RolloutError
from ..experiment.names import config_field
from .compare import design_dims
from .survival import horizon_of, restricted

#: outcome -> (variable, higher is better)
OUTCOMES = {"net_benefit": ("net_benefit", True), "t_stable": ("t_stable", False)}


def point_regret(cube: xr.Dataset) -> xr.Dataset:
    """Regret of every strategy at every design point, per outcome (dims design..., strategy)."""
    if not design_dims(cube):
        raise RolloutError("regret needs a sweep cube (a single run has one design point)")
    out = xr.Dataset()
    horizon = horizon_of(cube)
    for name, (var, higher) in OUTCOMES.items():
        values = cube[var].astype(float)
        if name == "t_stable":
            values = restricted(values.where(values <= horizon), horizon)
        mean = values.mean("replicate")
        out[name] = mean.max("strategy") - mean if higher else mean - mean.min("strategy")
    return out.compute()


def _combinations(cube: xr.Dataset, dims: list[str]) -> list[tuple[str, dict]]:
    switches = [d for d in dims if d != "point" and cube[d].dtype == bool]
    combos = [("pooled", {})]
    for values in itertools.product(*[cube[d].values.tolist() for d in switches]):
        where = dict(zip(switches, values, strict=True))
        combos.append((", ".join(f"{config_field(d)}={v}" for d, v in where.items()), where))
    return combos if switches else combos[:1]


def regret_table(cube: xr.Dataset, margin: float, time_tolerance: float = 12.0
                 ) -> list[dict]:
    """One record per (switch combination, outcome, strategy): max and 90th percentile of
    regret, satisficing share, and whether it is the minimax-regret strategy there."""
    regret = point_regret(cube)
    dims = design_dims(cube)
    records = []
    for label, where in _combinations(cube, dims):
        part = regret.sel(where) if where else regret
        rest = [d for d in dims if d not in where]
        for name in OUTCOMES:
            r = part[name].stack(_p=rest) if rest else part[name].expand_dims(_p=[0])
            worst = r.max("_p").values
            tolerance = margin if name == "net_benefit" else time_tolerance
            best = int(np.nanargmin(worst))
            for i, s in enumerate(r["strategy"].values):
                row = r.isel(strategy=i).values
                records.append({
                    "switches": label, "outcome": name, "strategy": str(s),
                    "points": int(row.size), "max_regret": float(worst[i]),
                    "p90_regret": float(np.quantile(row, 0.9)),
                    "satisficing": float(np.mean(row <= tolerance)),
                    "tolerance": float(tolerance), "minimax": i == best})
    return records


def format_regret(records: list[dict]) -> str:
    """The regret records as a table with a legend."""
    header = ["switches", "outcome", "strategy", "max regret", "p90 regret", "satisficing",
              "minimax"]
    rows = [header] + [[r["switches"], r["outcome"], r["strategy"], f"{r['max_regret']:.1f}",
                        f"{r['p90_regret']:.1f}", f"{r['satisficing']:.0%}",
                        "yes" if r["minimax"] else ""] for r in records]
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    tol = {r["outcome"]: r["tolerance"] for r in records}
    lines.append("regret at a design point: the best strategy's mean outcome there minus this "
                 "one's (net benefit, benefit units) or this one's minus the best's "
                 "(t_stable restricted to the horizon, months); satisficing: share of points "
                 f"with regret <= {tol.get('net_benefit', 0):g} (net benefit) or "
                 f"{tol.get('t_stable', 0):g} months (t_stable); minimax: the smallest "
                 "maximum regret")
    return "\n".join(lines)
