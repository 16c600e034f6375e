"""Placing a calibrated scenario on a discovered box: was China in the region where a claim holds?

A PRIM box restricts some swept parameters. A calibrated config (``rollout calibrate``) fixes most
of them and leaves some uncertain: its accepted ABC draws (``<config>.abc.csv``) are a posterior
sample of those. For each restricted parameter this says where the calibrated scenario sits (its
fixed value, or the posterior's 5-95% range) and which share of the posterior lies inside the
box's limit; overall, the share of posterior draws inside every numeric limit at once (limits
PRIM cannot tell from chance, quasi-p of 0.05 or more, are shown but not counted). A
restriction on a mechanism switch is reported apart: the calibration targets (dates of starts)
do not identify whether a mechanism operates, so that part of the question stays open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import RolloutConfig
from ..errors import RolloutError
from ..experiment.names import config_field

#: A box restriction whose quasi-p value (PRIM's test that the restriction raises the density)
#: is at least this is reported but does not count in "inside every limit".
WEAK_QP = 0.05


@dataclass
class Placement:
    rows: pd.DataFrame          # per restricted parameter: where the scenario sits, share inside
    inside_all: float           # posterior share inside every numeric limit at once
    draws: int                  # accepted posterior draws used
    switches: list[str]         # restricted switches (not identified by the calibration)
    satisfied: list[str] = field(default_factory=list)   # switches the calibrated model runs


def _scenario_path(name: str, config: RolloutConfig) -> str:
    """A swept path as the calibrated config names it (a strategy's field under its own
    strategy: strategies.phased.X is the historical design's X)."""
    parts = config_field(name).split(".")
    if parts[0] == "strategies" and len(parts) >= 3 and config.calibration is not None:
        return ".".join(["strategies", config.calibration.strategy, *parts[2:]])
    return ".".join(parts)


def _config_value(config: RolloutConfig, path: str):
    node = config.model_dump(mode="python")
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def accepted_draws(config_path: str | Path) -> pd.DataFrame:
    """The accepted draws of a calibrated config (its ``.abc.csv`` beside it), or an empty table."""
    path = Path(config_path)
    record = path.with_name(f"{path.stem}.abc.csv")
    if not record.is_file():
        return pd.DataFrame()
    try:
        table = pd.read_csv(record)
        return table[table["accepted"] == 1].reset_index(drop=True)
    except (ValueError, KeyError, OSError) as err:
        raise RolloutError(f"{record}: not a calibration record ({type(err).__name__}: "
                           f"{str(err)[:120]})") from None


#: Fields whose 0 means "never" (an infinite time constant): entrenchment's residue does not
#: decay at 0 (docs/model.md section 11). A value of 0 is placed as +inf: inside a box whose
#: upper limit PRIM left at the design's maximum (open above), outside one it peeled from above.
NEVER_AT_ZERO = frozenset({"entrenchment.residue_months"})


def place(limits: pd.DataFrame, config: RolloutConfig, draws: pd.DataFrame,
          sampled_max: dict[str, float] | None = None) -> Placement:
    """Where the calibrated ``config`` (with posterior ``draws``) sits against a box's
    ``limits`` (PRIM's table: min and max per restricted parameter, sets for categories).
    ``sampled_max``: each parameter's largest design value (to tell an open upper limit)."""
    rows = []
    inside = np.ones(max(len(draws), 1), bool)
    switches = []       # restricted switches the calibrated model does not run as the box needs
    satisfied = []      # restricted switches it does run as the box needs
    for name, row in limits.iterrows():
        low, high = row["min"], row["max"]
        weak = float(row.get("qp values", 0.0)) >= WEAK_QP
        if isinstance(low, set | frozenset) and weak:
            continue
        if isinstance(low, set | frozenset):
            if str(_config_value(config, _scenario_path(str(name), config))) in low:
                satisfied.append(f"{name} in {{{', '.join(sorted(map(str, low)))}}}")
            else:
                switches.append(f"{name} in {{{', '.join(sorted(map(str, low)))}}}")
            continue
        path = _scenario_path(str(name), config)
        low, high = float(low), float(high)
        if _config_value(config, f"{path.split('.')[0]}.enabled") is False:
            if weak:
                continue
            # a parameter of a mechanism the calibrated model does not run: its dates say
            # nothing about it, so it is left open like a switch
            switches.append(f"{name} in [{low:.3g}, {high:.3g}]")
            continue
        if path in draws.columns:
            values = draws[path].to_numpy(float)
            hit = (values >= low) & (values <= high)
            where = (f"posterior {np.percentile(values, 5):.3g}-"
                     f"{np.percentile(values, 95):.3g}")
        else:
            value = _config_value(config, path)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise RolloutError(f"{name}: the calibrated config has no value for it "
                                   f"({path})")
            if value == 0 and config_field(str(name)) in NEVER_AT_ZERO:
                top = (sampled_max or {}).get(str(name), math.nan)
                hit = np.full(max(len(draws), 1), bool(high >= top))     # nan: outside
                where = "fixed 0 (never: beyond the design)"
            else:
                hit = np.full(max(len(draws), 1), low <= value <= high)
                where = f"fixed {value:.3g}"
        if not weak:        # a restriction PRIM cannot tell from chance does not decide it
            inside &= hit
        rows.append({"parameter": name, "box": f"{low:.3g}-{high:.3g}", "scenario": where,
                     "inside": float(np.mean(hit)), "weak": weak})
    table = pd.DataFrame(rows).set_index("parameter") if rows else pd.DataFrame()
    return Placement(table, float(inside.mean()) if len(draws) else
                     (float(inside[0]) if rows else math.nan), len(draws), switches,
                     satisfied)


def format_placement(p: Placement, label: str) -> str:
    lines = [f"{label} on the box ({p.draws} accepted posterior draws):"]
    for name, row in p.rows.iterrows():
        lines.append(f"  {name:<40} box {row['box']:<20} {row['scenario']:<28} "
                     f"inside {row['inside']:.0%}" + ("  (weak: qp >= 0.05, not counted)"
                                                      if row["weak"] else ""))
    lines.append(f"  inside every numeric limit (qp < 0.05) at once: {p.inside_all:.0%} of the "
                 "posterior")
    if p.satisfied:
        lines.append("  with " + "; ".join(p.satisfied) + " (as the calibrated model runs it)")
    if p.switches:
        lines.append("  and only if " + "; ".join(p.switches) + " (mechanisms, and their "
                     "parameters, that the calibrated model does not run: its dates do not "
                     "identify them)")
    return "\n".join(lines)
