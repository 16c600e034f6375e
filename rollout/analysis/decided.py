"""Decided points: where a claim holds significantly, where significantly not, and where the
replicates do not tell.

A count of design points "where phased is stable first" that takes a point estimate above 0.5
counts a point whose true share is 0.5 in about 40% of cases at 12 replicates; it mixes points
the replicates decide with points they do not. So every count here is three counts at the stated
level: *for* (a share's Wilson interval above 0.5, a difference's interval above 0), *against*
(below 0.5, below 0) and *undecided* (the interval holds the line). The point-estimate count may
be shown beside them, labelled as such. A conjunction ("later to full coverage and stable
first") is decided for where every part is, against where any part is, else undecided.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import RolloutError
from .text_table import text_table

FOR, AGAINST, UNDECIDED = 1, -1, 0


def share_decision(low: np.ndarray, high: np.ndarray, line: float = 0.5) -> np.ndarray:
    """+1 where a share's interval lies above ``line``, -1 where below, 0 where it holds it."""
    low, high = np.asarray(low, float), np.asarray(high, float)
    return np.where(low > line, FOR, np.where(high < line, AGAINST, UNDECIDED)).astype(int)


def difference_decision(low: np.ndarray, high: np.ndarray, line: float = 0.0) -> np.ndarray:
    """+1 where a difference's interval lies above ``line`` (0), -1 where below, else 0 (NaN
    bounds, no interval: undecided)."""
    return share_decision(low, high, line)


def conjunction(*decisions: np.ndarray) -> np.ndarray:
    """A claim made of parts: for where every part is for, against where any is against."""
    stack = np.stack([np.asarray(d, int) for d in decisions])
    return np.where((stack == FOR).all(0), FOR,
                    np.where((stack == AGAINST).any(0), AGAINST, UNDECIDED)).astype(int)


def negate(decision: np.ndarray) -> np.ndarray:
    return -np.asarray(decision, int)


@dataclass(frozen=True)
class Counts:
    """Design points by decision, and the point-estimate count beside them."""

    points: int
    significant_for: int
    significant_against: int
    undecided: int
    point_estimate: int          # where the claim holds by its point estimate (as defined)

    def describe(self, confidence: float) -> str:
        return (f"significant for {self.significant_for}, significant against "
                f"{self.significant_against}, undecided {self.undecided} of {self.points} "
                f"design points (at the {confidence:.0%} level); by the point estimate "
                f"{self.point_estimate}")


def counts(decision: np.ndarray, point_estimate: np.ndarray) -> Counts:
    d = np.asarray(decision, int).ravel()
    return Counts(int(d.size), int((d == FOR).sum()), int((d == AGAINST).sum()),
                  int((d == UNDECIDED).sum()), int(np.asarray(point_estimate, bool).sum()))


#: issue 21's crossover claims (discover.CLAIMS): shares of replicates, no interval stored
_OVERTAKES_WITHIN = re.compile(r"^overtakes_within_(\d+(?:\.\d+)?)y$")
_THRESHOLD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


def interval_names(name: str) -> tuple[str, str] | None:
    """The compare variables bounding a compare variable's estimate, if it has an interval."""
    if name == "stable_first":
        return "stable_first_low", "stable_first_high"
    if name.startswith("rdiff_"):
        return f"rlow_{name[6:]}", f"rhigh_{name[6:]}"
    if name.startswith("diff_"):
        return f"low_{name[5:]}", f"high_{name[5:]}"
    return None


def claim_decision(result: xr.Dataset, strategy: str, claim: str, dims: list[str]
                   ) -> np.ndarray | None:
    """Per design point (flattened like discover's design table): +1 significant for the claim,
    -1 significant against, 0 undecided; None for a threshold claim on a variable without an
    interval (only its point estimate can be counted)."""
    row = result.sel(strategy=strategy).transpose(*dims)

    def v(name: str) -> np.ndarray:
        return np.asarray(row[name].values, float).ravel()

    stable = share_decision(v("stable_first_low"), v("stable_first_high")) \
        if "stable_first_low" in row else None
    if claim == "stable_first":
        return stable
    if claim == "net_benefit_higher":
        return difference_decision(v("low_net_benefit"), v("high_net_benefit"))
    if claim in ("full_later", "faster_full", "slower_is_faster"):
        later = difference_decision(v("rlow_t_full"), v("rhigh_t_full"))
        if claim == "full_later":
            return later
        if claim == "faster_full":
            return negate(later)
        return conjunction(later, stable)
    if claim == "overtakes" or _OVERTAKES_WITHIN.match(claim):
        return None     # a share of replicates with no interval stored: point estimate only
    match = _THRESHOLD.match(claim)
    if not match:
        raise RolloutError(f"claim {claim!r}: not a named claim or 'VARIABLE OP VALUE'")
    name, op, text = match.groups()
    bounds = interval_names(name)
    if bounds is None or bounds[0] not in row or bounds[1] not in row:
        return None
    value = float(text)
    low, high = v(bounds[0]), v(bounds[1])
    if op in (">", ">="):
        above = _OPS[op](low, value)
        below = _OPS["<" if op == ">=" else "<="](high, value)
        return np.where(above, FOR, np.where(below, AGAINST, UNDECIDED)).astype(int)
    below = _OPS[op](high, value)
    above = _OPS[">" if op == "<=" else ">="](low, value)
    return np.where(below, FOR, np.where(above, AGAINST, UNDECIDED)).astype(int)


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

#: claims counted by ``compare --summary`` (discover.CLAIMS names them)
SUMMARY_CLAIMS = ("full_later", "stable_first", "net_benefit_higher", "slower_is_faster")


def decided_summary(result: xr.Dataset) -> list[dict]:
    """Per strategy and claim: design points significant for, against, undecided, and the
    point-estimate count (a ``compare`` of t_full, t_stable and net_benefit)."""
    dims = [d for d in result["stable_first"].dims if d != "strategy"]
    baseline = result.attrs["baseline"]
    rows = []
    for s in result["strategy"].values:
        if str(s) == baseline:
            continue
        for claim in SUMMARY_CLAIMS:
            decision = claim_decision(result, str(s), claim, dims)
            point = point_estimate(result, str(s), claim, dims)
            c = counts(decision, point)
            rows.append({"strategy": str(s), "claim": claim, "points": c.points,
                         "significant_for": c.significant_for,
                         "significant_against": c.significant_against,
                         "undecided": c.undecided, "point_estimate": c.point_estimate})
    return rows


def point_estimate(result: xr.Dataset, strategy: str, claim: str, dims: list[str]
                   ) -> np.ndarray:
    """Where a claim holds by its point estimate: the share above 0.5, the mean difference on
    the claimed side of 0 (a conjunction: every part)."""
    row = result.sel(strategy=strategy).transpose(*dims)

    def v(name: str) -> np.ndarray:
        return np.asarray(row[name].values, float).ravel()

    if claim == "stable_first":
        return v("stable_first") > 0.5
    if claim == "net_benefit_higher":
        return v("diff_net_benefit") > 0
    if claim == "full_later":
        return v("rdiff_t_full") > 0
    if claim == "faster_full":
        return v("rdiff_t_full") < 0
    if claim == "slower_is_faster":
        return (v("rdiff_t_full") > 0) & (v("stable_first") > 0.5)
    if claim == "overtakes":
        return v("censored_t_overtake") < 0.5
    if _OVERTAKES_WITHIN.match(claim):
        return v("overtake_within") > 0.5
    match = _THRESHOLD.match(claim)
    if not match:
        raise RolloutError(f"claim {claim!r}: not a named claim or 'VARIABLE OP VALUE'")
    name, op, text = match.groups()
    return _OPS[op](v(name), float(text))


def format_decided_summary(rows: list[dict], confidence: float, replicates: int) -> str:
    """The decided counts as a table with a legend."""
    header = ["strategy", "claim", "points", "significant for", "significant against",
              "undecided", "point estimate"]
    table = [header] + [[r["strategy"], r["claim"], str(r["points"]),
                         str(r["significant_for"]), str(r["significant_against"]),
                         str(r["undecided"]), str(r["point_estimate"])] for r in rows]
    lines = text_table(table)
    lines.append(f"decided points ({replicates} paired replicates each, {confidence:.0%} level): "
                 "significant for = the interval is on the claim's side (Wilson bound above "
                 "0.5 for stable first; t interval above 0 for differences, restricted times); "
                 "against = on the other side; undecided = the interval holds the line, more "
                 "replicates could decide it; point estimate = the share above 0.5 or the mean "
                 "difference on the claim's side, shown for reference only; slower_is_faster = "
                 "full_later and stable_first (for where both are for, against where either is "
                 "against)")
    return "\n".join(lines)
