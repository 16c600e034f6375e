"""The outcomes beyond one horizon, gathered for ``compare`` (and the headline): net benefit at
several horizons and discount rates (horizons.py), stable first across thresholds with the
long-run floor (stability_curve.py), downside risk (risk.py) and, for a sweep, regret
(regret.py). A measure a cube cannot give (an older cube, a horizon beyond the run) is named in
one note line instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..experiment.names import config_field
from .compare import _plain, design_dims
from .horizons import analysis_levels, at_horizons, usable_horizons
from .paired import mean_interval
from .regret import regret_table
from .risk import risk
from .stability_curve import floor_summary, stable_first_curve


@dataclass
class Outcomes:
    baseline: str
    confidence: float
    horizons: xr.Dataset | None          # diff, low, high, mean by horizon_years x rate
    curve: xr.Dataset | None             # stable first by stable_threshold (+ floor)
    risk: xr.Dataset | None
    regret: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def outcomes(cube: xr.Dataset, baseline: str, confidence: float = 0.95) -> Outcomes:
    """Every measure the cube can give, against ``baseline``."""
    years, rates, margin = analysis_levels(cube)
    notes = []
    has_series = "benefit" in cube and "harm" in cube
    horizons = None
    if has_series:
        ok, skipped = usable_horizons(cube, years)
        if skipped:
            notes.append("horizons not reached by the run (or off its grid), left out: "
                         + ", ".join(f"{y:g} years" for y in skipped))
        if ok:
            at = at_horizons(cube, ok, rates)
            d = at["net_h"] - at["net_h"].sel(strategy=baseline)
            mean, low, high = mean_interval(d, confidence)
            horizons = xr.Dataset({"diff": mean, "low": low, "high": high,
                                   "mean": at["net_h"].mean("replicate")}).compute()
    else:
        notes.append("net benefit at other horizons: absent (the cube has no harm and benefit "
                     "series)")
    curve = None
    if "t_stable" in cube:
        curve = stable_first_curve(cube, baseline, confidence)
        if not curve.attrs["stored"]:
            notes.append("stable first across thresholds: absent (a cube written before "
                         "t_stable_at); shown at the cube's one threshold")
        if "end_harm_rate" in cube or has_series:
            floor = floor_summary(cube)
            curve = curve.merge(floor)
            curve.attrs.update(stored=curve.attrs.get("stored", 0),
                               floor_exact=floor.attrs["floor_exact"])
            if not floor.attrs["floor_exact"]:
                notes.append("long-run floor: from the last grid step's mean rates (a cube "
                             "written before the rates at the horizon were stored)")
    downside = risk(cube, baseline, margin, confidence) if "net_benefit" in cube else None
    if downside is not None and "p_pause" not in downside:
        notes.append("P(national pause): absent (the cube has no 'halted' series)")
    regret = regret_table(cube, margin) if design_dims(cube) else []
    return Outcomes(baseline, confidence, horizons, curve, downside, regret, notes)


def _points(ds: xr.Dataset, dims: list[str]):
    for idx in np.ndindex(*[ds.sizes[d] for d in dims]):
        where = dict(zip(dims, idx, strict=True))
        label = {config_field(d): _plain(ds[d].values[i]) for d, i in where.items()}
        yield label, ds.isel(where)


def outcome_records(result: Outcomes, cube: xr.Dataset) -> list[dict]:
    """Tidy records (one per point, strategy, measure and level) for CSV and JSON."""
    dims = design_dims(cube)
    records = []
    base = {"baseline": result.baseline}
    if result.horizons is not None:
        for label, at in _points(result.horizons, dims):
            for s in at["strategy"].values:
                row = at.sel(strategy=s)
                for y in row["horizon_years"].values:
                    for r in row["discount_rate"].values:
                        cell = row.sel(horizon_years=y, discount_rate=r)
                        records.append({**label, "strategy": str(s), **base,
                                        "metric": "net_benefit_at", "horizon_years": float(y),
                                        "discount_rate": float(r),
                                        "mean_difference": _plain(cell["diff"].values),
                                        "low": _plain(cell["low"].values),
                                        "high": _plain(cell["high"].values),
                                        "strategy_mean": _plain(cell["mean"].values)})
    if result.curve is not None:
        for label, at in _points(result.curve, dims):
            for s in at["strategy"].values:
                row = at.sel(strategy=s)
                for k in row["stable_threshold"].values:
                    cell = row.sel(stable_threshold=k)
                    rec = {**label, "strategy": str(s), **base, "metric": "stable_first_at",
                           "threshold": float(k)}
                    for name in ("stable_first", "stable_first_low", "stable_first_high",
                                 "earlier", "baseline_never", "stable_reached", "floor_above"):
                        if name in cell:
                            rec[name] = _plain(cell[name].values)
                    if "floor_median" in cell:
                        rec["floor_median"] = _plain(cell["floor_median"].values)
                    records.append(rec)
    if result.risk is not None:
        for label, at in _points(result.risk, dims):
            for s in at["strategy"].values:
                row = at.sel(strategy=s)
                rec = {**label, "strategy": str(s), **base, "metric": "risk",
                       "margin": result.risk.attrs["margin"]}
                rec.update({name: _plain(row[name].values) for name in row.data_vars})
                records.append(rec)
    for r in result.regret:
        records.append({"strategy": r["strategy"], **base, "metric": f"regret_{r['outcome']}",
                        **{k: v for k, v in r.items() if k not in ("strategy", "outcome")}})
    return records


def _fmt(value: float, spec: str = "+.1f") -> str:
    value = float(value)
    return "n/a" if not np.isfinite(value) else format(value, spec)


def format_outcomes(result: Outcomes, cube: xr.Dataset, max_points: int = 4) -> str:
    """Text blocks under compare's table: per design point (the first ``max_points``), per
    strategy against the baseline."""
    dims = design_dims(cube)
    lines: list[str] = []
    pct = f"{result.confidence:.0%}"
    for i, (label, _) in enumerate(_points(result.risk if result.risk is not None
                                           else result.curve, dims)):
        if i == max_points:
            lines.append("... and more design points: use --format csv or json")
            break
        where = dict(zip(dims, next(iter([idx for j, idx in enumerate(
            np.ndindex(*[cube.sizes[d] for d in dims])) if j == i])), strict=True))
        head = ", ".join(f"{k}={v}" for k, v in label.items())
        if head:
            lines.append(f"[{head}]")
        lines += _blocks(result, where, pct)
    if result.regret:
        from .regret import format_regret

        lines += ["", "regret across the design", format_regret(result.regret)]
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def _blocks(result: Outcomes, where: dict, pct: str) -> list[str]:
    lines = []
    others = [str(s) for s in (result.risk or result.curve)["strategy"].values
              if str(s) != result.baseline]
    if result.horizons is not None:
        h = result.horizons.isel(where)
        lines.append(f"net benefit by horizon and discount rate (a year, continuous): mean "
                     f"paired difference against {result.baseline} [{pct} CI], benefit units")
        rates = h["discount_rate"].values
        table = [["strategy", "horizon", *[f"{r:.0%}" for r in rates]]]
        for s in others:
            for y in h["horizon_years"].values:
                c = h.sel(strategy=s, horizon_years=y)
                table.append([s, f"{y:g} y", *[
                    f"{_fmt(c['diff'].sel(discount_rate=r))} "
                    f"[{_fmt(c['low'].sel(discount_rate=r))}, "
                    f"{_fmt(c['high'].sel(discount_rate=r))}]" for r in rates]])
        widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                  for row in table]
    if result.curve is not None:
        c = result.curve.isel(where)
        lines.append("stable first by harm threshold (share of the benefit rate): stable first "
                     "= both stable and strictly earlier + baseline never stable")
        for s in others:
            row = c.sel(strategy=s)
            cells = [f"{float(k):g}: {float(row['stable_first'].sel(stable_threshold=k)):.0%} = "
                     f"{float(row['earlier'].sel(stable_threshold=k)):.0%} + "
                     f"{float(row['baseline_never'].sel(stable_threshold=k)):.0%}"
                     for k in row["stable_threshold"].values]
            lines.append(f"  {s}: " + "; ".join(cells))
        if "floor_median" in c:
            lines.append("long-run floor (harm-to-benefit rate ratio at the horizon, median): "
                         + ", ".join(f"{s} {_fmt(c['floor_median'].sel(strategy=s), '.3g')}"
                                     for s in c["strategy"].values))
    if result.risk is not None:
        r = result.risk.isel(where)
        margin = result.risk.attrs["margin"]
        lines.append(f"downside of net benefit: 5%/10% quantiles, expected shortfall at 5%, "
                     f"P(more than {margin:g} below {result.baseline})"
                     + (", P(national pause)" if "p_pause" in r else "")
                     + (", P(a province paying nothing at the horizon)"
                        if "p_unpaid" in r else ""))
        for s in [str(x) for x in r["strategy"].values]:
            row = r.sel(strategy=s)
            cells = [f"q5 {_fmt(row['q05'], '.1f')}", f"q10 {_fmt(row['q10'], '.1f')}",
                     f"ES5 {_fmt(row['es05'], '.1f')}"]
            if s != result.baseline:
                cells.append(f"P(below) {float(row['p_below']):.0%} "
                             f"[{float(row['p_below_low']):.0%}, "
                             f"{float(row['p_below_high']):.0%}]")
            if "p_pause" in row:
                cells.append(f"P(pause) {float(row['p_pause']):.0%}")
            if "p_unpaid" in row:
                cells.append(f"P(unpaid) {float(row['p_unpaid']):.0%}")
            lines.append(f"  {s}: " + ", ".join(cells))
    return lines


def config_json(cube: xr.Dataset) -> dict:
    return json.loads(cube.attrs.get("config", "{}"))
