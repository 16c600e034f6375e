"""Paired comparison of every strategy with a baseline, at every design point, lazily.

For each metric the difference strategy - baseline is taken replicate by replicate (common random
numbers make replicate i the same world for both). For times (t_full, t_stable) the first
estimate uses every pair: the difference of restricted times min(T, H), a time that never came
counting the horizon H (``rdiff_<metric>``, survival.py), with the share of censored runs
(``censored_<metric>``) and Kaplan-Meier medians per strategy (``km_median_<metric>``). The
mean over pairs where both sides reached the time (``diff_<metric>``) is secondary: pairs where
either side never reached it (NaN) are left out and counted in ``excluded_<metric>``;
``never_<metric>`` counts the strategy's own never-reached runs. ``stable_first`` is the share
of replicates in which the strategy reaches stable coverage strictly before the baseline
('never' ranks after any time).
Everything is an xarray reduction along ``replicate``, so a dask-backed cube larger than memory
is reduced chunk by chunk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import stats

from ..errors import RolloutError
from ..experiment.names import config_field
from .survival import horizon_of, km_medians, restricted
from .text_table import text_table

DEFAULT_METRICS = ("t_full", "t_stable", "harm_total", "net_benefit")
TIME_METRICS = ("t_full", "t_stable", "t_overtake")
#: dimensions a run's variable may have beyond (design..., strategy, replicate): not a metric
RUN_EXTRA_DIMS = ("time", "province", "track", "stable_threshold")


def default_metrics(cube: xr.Dataset) -> list[str]:
    """DEFAULT_METRICS, with t_overtake after t_stable where the cube stores it or the harm and
    benefit series it is computed from (overtake.py)."""
    metrics = list(DEFAULT_METRICS)
    if "t_overtake" in cube or ("benefit" in cube and "harm" in cube):
        metrics.insert(2, "t_overtake")
    return metrics


def design_dims(cube: xr.Dataset) -> list[str]:
    """The sweep dimensions of a cube (empty for a single run)."""
    return json.loads(cube.attrs.get("design", '{"dims": []}'))["dims"]


def cube_name(cube: xr.Dataset, name: str) -> str:
    """A design dimension or parameter as this cube names it: users may type the config field
    (``centre.capacity``) for the CF-valid stored name (``centre__capacity``)."""
    if name in cube.variables or name in cube.dims:
        return name
    stored = name.replace(".", "__")
    return stored if stored in cube.variables or stored in cube.dims else name


def check_metrics(cube: xr.Dataset, metrics: Sequence[str]) -> None:
    per_replicate = [name for name, var in cube.data_vars.items()
                     if "replicate" in var.dims and "strategy" in var.dims
                     and not set(var.dims) & set(RUN_EXTRA_DIMS)]
    for metric in metrics:
        if metric not in per_replicate:
            raise RolloutError(f"metric {metric!r} is not a per-replicate variable of the cube "
                               f"(choose from {', '.join(sorted(per_replicate))})")


def check_baseline(cube: xr.Dataset, baseline: str) -> list[str]:
    strategies = [str(s) for s in cube["strategy"].values]
    if baseline not in strategies:
        raise RolloutError(f"baseline {baseline!r} is not a strategy of the cube "
                           f"({', '.join(strategies)})")
    return strategies


def compare(cube: xr.Dataset, baseline: str = "big_bang",
            metrics: Sequence[str] = DEFAULT_METRICS, confidence: float = 0.95,
            km: bool = False) -> xr.Dataset:
    """Mean paired differences with t intervals (times: restricted to the horizon, over every
    pair; and over the pairs where both reached them), and the share reaching stable coverage
    first with Wilson intervals, for every strategy against ``baseline`` at every design point.
    ``km`` adds Kaplan-Meier medians of the times; they need every replicate of a point at
    once, so they load the times (the rest stays a chunk-by-chunk reduction)."""
    check_baseline(cube, baseline)
    metrics = list(metrics)
    if "t_overtake" in metrics:
        from .overtake import with_overtake

        cube = with_overtake(cube, baseline)
    check_metrics(cube, metrics)
    if not 0.0 < confidence < 1.0:
        raise RolloutError(f"confidence must be between 0 and 1, got {confidence}")
    lazy = {}
    horizon = horizon_of(cube)
    for m in metrics:
        values = cube[m].astype(float)
        if m in TIME_METRICS:     # never reached: +inf in the cube (NaN in older cubes);
            values = values.where(values <= horizon)     # a time after H is censored too
        d = values - values.sel(strategy=baseline)
        ok = d.notnull()
        n = ok.sum("replicate")
        total = d.where(ok).sum("replicate")
        square = (d * d).where(ok).sum("replicate")
        lazy[f"n_{m}"] = n
        lazy[f"sum_{m}"] = total
        lazy[f"sq_{m}"] = square
        lazy[f"never_{m}"] = values.isnull().sum("replicate")
        if m in TIME_METRICS:
            r = restricted(values, horizon)
            dr = r - r.sel(strategy=baseline)
            lazy[f"rsum_{m}"] = dr.sum("replicate")
            lazy[f"rsq_{m}"] = (dr * dr).sum("replicate")
            lazy[f"rmean_{m}"] = r.mean("replicate")
    if "t_stable" in cube:
        mine = cube["t_stable"].astype(float).fillna(np.inf)      # never ranks after any time
        theirs = mine.sel(strategy=baseline)
        lazy["wins"] = (mine < theirs).sum("replicate")
    reduced = xr.Dataset(lazy).compute()

    out = xr.Dataset()
    replicates = cube.sizes["replicate"]
    for m in metrics:
        n = reduced[f"n_{m}"].astype(float)
        mean = reduced[f"sum_{m}"] / n.where(n > 0)
        var = (reduced[f"sq_{m}"] - n * mean**2) / (n - 1).where(n > 1)
        var = var.clip(min=0.0)
        tq = xr.apply_ufunc(lambda k: stats.t.ppf(0.5 + confidence / 2, np.maximum(k - 1, 1)), n)
        half = tq * np.sqrt(var / n)
        units = cube[m].attrs.get("units", "")
        both = " over pairs where both reached it" if m in TIME_METRICS else ""
        out[f"diff_{m}"] = mean.assign_attrs(
            units=units,
            long_name=f"mean paired difference in {m} (strategy - {baseline}){both}")
        out[f"low_{m}"] = (mean - half).assign_attrs(units=units, long_name=(
            f"lower {confidence:.0%} t-interval bound of the difference in {m}{both}"))
        out[f"high_{m}"] = (mean + half).assign_attrs(units=units, long_name=(
            f"upper {confidence:.0%} t-interval bound of the difference in {m}{both}"))
        if m in TIME_METRICS:
            _restricted(out, reduced, cube, m, baseline, horizon, confidence, replicates, km)
        out[f"pairs_{m}"] = reduced[f"n_{m}"].assign_attrs(
            units="1", long_name=f"replicate pairs in the difference in {m}")
        out[f"excluded_{m}"] = (replicates - reduced[f"n_{m}"]).assign_attrs(
            units="1", long_name=f"replicate pairs left out (a side never reached {m})")
        out[f"never_{m}"] = reduced[f"never_{m}"].assign_attrs(
            units="1", long_name=f"replicates in which the strategy never reached {m}")
    if "wins" in reduced:
        wins = reduced["wins"]
        low, high = wilson(wins.values, replicates, confidence)
        out["stable_first"] = (wins / replicates).assign_attrs(
            units="1", long_name=f"share of replicates reaching stable coverage before {baseline}")
        out["stable_first_low"] = wins.copy(data=low).assign_attrs(
            units="1", long_name=f"lower {confidence:.0%} Wilson bound of stable_first")
        out["stable_first_high"] = wins.copy(data=high).assign_attrs(
            units="1", long_name=f"upper {confidence:.0%} Wilson bound of stable_first")
    out.attrs.update({"baseline": baseline, "confidence": confidence, "replicates": replicates,
                      "horizon_months": horizon,
                      "source_config_sha256": cube.attrs.get("config_sha256", ""),
                      "design_dims": json.dumps(design_dims(cube))})
    return out


def _restricted(out: xr.Dataset, reduced: xr.Dataset, cube: xr.Dataset, m: str, baseline: str,
                horizon: float, confidence: float, replicates: int, km: bool) -> None:
    """The censoring-aware statistics of time metric m (every replicate pair)."""
    units = cube[m].attrs.get("units", "")
    mean = reduced[f"rsum_{m}"] / replicates
    var = ((reduced[f"rsq_{m}"] - replicates * mean**2) / max(replicates - 1, 1)).clip(min=0.0)
    tq = stats.t.ppf(0.5 + confidence / 2, max(replicates - 1, 1))
    half = tq * np.sqrt(var / replicates) if replicates > 1 else mean * np.nan
    what = f"restricted {m}, min({m}, {horizon:g}), a time never reached counting {horizon:g}"
    out[f"rdiff_{m}"] = mean.assign_attrs(units=units, long_name=(
        f"mean paired difference in {what} (strategy - {baseline}), over every pair"))
    out[f"rlow_{m}"] = (mean - half).assign_attrs(units=units, long_name=(
        f"lower {confidence:.0%} t-interval bound of the restricted difference in {m}"))
    out[f"rhigh_{m}"] = (mean + half).assign_attrs(units=units, long_name=(
        f"upper {confidence:.0%} t-interval bound of the restricted difference in {m}"))
    out[f"rmean_{m}"] = reduced[f"rmean_{m}"].assign_attrs(units=units, long_name=(
        f"restricted mean {m} of the strategy (horizon {horizon:g})"))
    out[f"censored_{m}"] = (reduced[f"never_{m}"] / replicates).assign_attrs(units="1", long_name=(
        f"share of the strategy's replicates in which {m} never came by the horizon"))
    if not km:
        return
    medians = km_medians(cube[m].astype(float), horizon, confidence)
    for stat, text in (("median", "Kaplan-Meier median"),
                       ("low", f"lower {confidence:.0%} bound of the Kaplan-Meier median"),
                       ("high", f"upper {confidence:.0%} bound of the Kaplan-Meier median")):
        out[f"km_{stat}_{m}"] = medians[stat].assign_attrs(units=units, long_name=(
            f"{text} of {m} (inf: not reached by the horizon)"))


def wilson(successes: np.ndarray, n: int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of proportions (vectorised)."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = np.asarray(successes, float) / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = np.where(p == 0.0, 0.0, np.clip(centre - half, 0, 1))     # exact at the edges
    high = np.where(p == 1.0, 1.0, np.clip(centre + half, 0, 1))
    return low, high


def _km(value):
    """A Kaplan-Meier bound for CSV/JSON: 'inf' when not reached by the horizon."""
    value = float(value)
    return "inf" if value == np.inf else _plain(value)


#: record field -> (compare variable prefix, conversion) of the censoring-aware time statistics
_TIME_RECORDS = {
    "restricted_difference": ("rdiff", lambda v: _plain(v)),
    "restricted_low": ("rlow", lambda v: _plain(v)),
    "restricted_high": ("rhigh", lambda v: _plain(v)),
    "restricted_mean": ("rmean", lambda v: _plain(v)),
    "censored_share": ("censored", lambda v: _plain(v)),
    "km_median": ("km_median", lambda v: _km(v)),
    "km_low": ("km_low", lambda v: _km(v)),
    "km_high": ("km_high", lambda v: _km(v)),
}


def to_records(result: xr.Dataset, metrics: Sequence[str]) -> list[dict]:
    """One record per (design point, strategy, metric): tidy rows for CSV and JSON."""
    dims = json.loads(result.attrs["design_dims"])
    records = []
    for idx in np.ndindex(*[result.sizes[d] for d in dims]):
        point = result.isel(dict(zip(dims, idx, strict=True)))
        for s in point["strategy"].values:
            row = point.sel(strategy=s)
            # keys: the config fields (adoption.steering), as the config names them
            base = {config_field(d): _plain(result[d].values[i])
                    for d, i in zip(dims, idx, strict=True)}
            for d, i in zip(dims, idx, strict=True):   # parameter values along 'point'
                for name, coord in result.coords.items():
                    if coord.dims == (d,) and name != d:
                        base[config_field(name)] = _plain(coord.values[i])
            base["strategy"] = str(s)
            base["baseline"] = result.attrs["baseline"]
            for m in metrics:
                rec = dict(base, metric=m, mean_difference=_plain(row[f"diff_{m}"].values),
                           low=_plain(row[f"low_{m}"].values),
                           high=_plain(row[f"high_{m}"].values),
                           pairs=int(row[f"pairs_{m}"].values),
                           excluded=int(row[f"excluded_{m}"].values),
                           never=int(row[f"never_{m}"].values))
                for key, (var, plain) in _TIME_RECORDS.items():
                    if f"{var}_{m}" in row:
                        rec[key] = plain(row[f"{var}_{m}"].values)
                if "stable_first" in row:
                    rec.update(stable_first=_plain(row["stable_first"].values),
                               stable_first_low=_plain(row["stable_first_low"].values),
                               stable_first_high=_plain(row["stable_first_high"].values))
                records.append(rec)
    return records


def _plain(value):
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def format_table(result: xr.Dataset, metrics: Sequence[str]) -> str:
    """A readable table: one row per design point and strategy. Times come first as restricted
    differences over every pair; the difference over pairs where both reached the time follows
    in a column marked 'both reached' (survival.py)."""
    dims = json.loads(result.attrs["design_dims"])
    baseline = result.attrs["baseline"]
    conf = f"{result.attrs['confidence']:.0%}"
    horizon = result.attrs.get("horizon_months", float("nan"))
    times = [m for m in metrics if f"rdiff_{m}" in result]
    header = [*map(config_field, dims), "strategy",
              *[f"d {m} ({'restricted, ' if m in times else ''}{conf} CI)" for m in metrics]]
    if "stable_first" in result:
        header.append("stable first")
    header += [f"d {m}, both reached (pairs)" for m in times]
    rows = [header]
    notes = []
    for idx in np.ndindex(*[result.sizes[d] for d in dims]):
        point = result.isel(dict(zip(dims, idx, strict=True)))
        label = [str(_plain(result[d].values[i])) for d, i in zip(dims, idx, strict=True)]
        for s in point["strategy"].values:
            if str(s) == baseline:
                for m in times:
                    never = int(point.sel(strategy=s)[f"never_{m}"])
                    if never:
                        notes.append(f"{', '.join(label + [str(s)])} (baseline): {m} not "
                                     f"reached by the horizon in {never} of "
                                     f"{result.attrs['replicates']} replicates")
                continue
            row = point.sel(strategy=s)
            cells = []
            for m in metrics:
                prefix = "r" if m in times else ""
                cells.append(_interval(row, f"{prefix}diff_{m}", f"{prefix}low_{m}",
                                       f"{prefix}high_{m}"))
                never = int(row[f"never_{m}"])
                if m in times and never:
                    notes.append(f"{', '.join(label + [str(s)])}: {m} not reached by the horizon "
                                 f"in {never} of {result.attrs['replicates']} replicates "
                                 f"(counted as {horizon:g} in the restricted difference)")
            if "stable_first" in row:
                cells.append(f"{float(row['stable_first']):.0%} "
                             f"[{float(row['stable_first_low']):.0%}, "
                             f"{float(row['stable_first_high']):.0%}]")
            for m in times:
                cells.append(_interval(row, f"diff_{m}", f"low_{m}", f"high_{m}")
                             + f" ({int(row[f'pairs_{m}'])})")
            rows.append(label + [str(s)] + cells)
    widths = [max(len(r[j]) for r in rows) for j in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"d = mean paired difference against {baseline} over "
                 f"{result.attrs['replicates']} replicates (negative times: sooner); restricted: "
                 f"min(t, {horizon:g}), a time never reached counting the horizon, so every pair "
                 "is used; both reached: only the pairs where both designs reached the time "
                 "(a biased subset, shown for reference)")
    return "\n".join(lines + [f"note: {n}" for n in notes])


def _interval(row: xr.Dataset, mean: str, low: str, high: str) -> str:
    value = float(row[mean])
    if not np.isfinite(value):
        return "n/a"
    low_value, high_value = float(row[low]), float(row[high])
    if not np.isfinite(low_value):
        return f"{value:+.1f}"
    return f"{value:+.1f} [{low_value:+.1f}, {high_value:+.1f}]"


def design_summary(result: xr.Dataset) -> list[dict]:
    """Across the design points, per strategy: where it is 'slower at first and faster in the
    end'. Needs t_full, t_stable and net_benefit in ``result`` (``compare`` of those metrics).

    Counts design points where the strategy reaches full coverage later (the interval of the
    restricted t_full difference above 0), where it reaches stable coverage first in most
    replicates (stable_first > 0.5, and with the Wilson bound above 0.5), where its net benefit
    is higher or lower (interval off 0), and where both hold: stable first in most replicates
    and net benefit higher."""
    for name in ("rdiff_t_full", "rdiff_t_stable", "diff_net_benefit", "stable_first"):
        if name not in result:
            raise RolloutError("the design summary needs the metrics t_full, t_stable and "
                               "net_benefit")
    baseline = result.attrs["baseline"]
    rows = []
    for s in result["strategy"].values:
        if str(s) == baseline:
            continue
        r = result.sel(strategy=s)
        first = r["stable_first"].values.ravel()
        rows.append({
            "strategy": str(s),
            "points": int(first.size),
            "full_later": int((r["rlow_t_full"].values > 0).sum()),
            "stable_first_majority": int((first > 0.5).sum()),
            "stable_first_significant": int((r["stable_first_low"].values > 0.5).sum()),
            "net_benefit_higher": int((r["low_net_benefit"].values > 0).sum()),
            "net_benefit_lower": int((r["high_net_benefit"].values < 0).sum()),
            "slower_is_faster": int(((first > 0.5)
                                     & (r["diff_net_benefit"].values.ravel() > 0)).sum()),
            "mean_stable_first": float(np.mean(first)),
            "median_diff_t_stable": _finite_median(r["rdiff_t_stable"].values),
            "median_diff_net_benefit": _finite_median(r["diff_net_benefit"].values),
        })
    return rows


def _finite_median(values: np.ndarray) -> float:
    """Median of the finite values; NaN (without a warning) if there are none."""
    finite = np.asarray(values, float)[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def format_design_summary(rows: list[dict], baseline: str, confidence: float,
                          replicates: int) -> str:
    """The design summary as a table with a legend."""
    header = ["strategy", "points", "full later", "stable first >50%", "... significant",
              "net benefit higher", "net benefit lower", "both (slower is faster)",
              "mean stable first", "median d t_stable", "median d net benefit"]
    table = [header]
    for r in rows:
        table.append([r["strategy"], str(r["points"]), str(r["full_later"]),
                      str(r["stable_first_majority"]), str(r["stable_first_significant"]),
                      str(r["net_benefit_higher"]), str(r["net_benefit_lower"]),
                      str(r["slower_is_faster"]), f"{r['mean_stable_first']:.2f}",
                      f"{r['median_diff_t_stable']:+.1f}",
                      f"{r['median_diff_net_benefit']:+.1f}"])
    lines = text_table(table)
    lines.append(f"counts of design points against {baseline} ({replicates} paired replicates "
                 f"each; 'significant', 'later', 'higher', 'lower': the {confidence:.0%} "
                 "interval excludes 0, or 0.5 for stable first); 'both': stable first in most "
                 "replicates and a higher mean net benefit; d = strategy - baseline, months "
                 "or benefit units; times restricted to the horizon (every pair counts)")
    return "\n".join(lines)
