"""``compare --summary`` as records for CSV and JSON: one row per strategy holding the design
counts, the decided counts of every claim, and for a sweep the pooled differences with their
cluster and naive intervals (the table prints the same numbers as three tables)."""

from __future__ import annotations

import xarray as xr


def summary_records(ds: xr.Dataset, result: xr.Dataset, rows: list[dict], baseline: str,
                    confidence: float) -> list[dict]:
    """``rows`` (compare.design_summary) with the decided counts (``<claim>_significant_for``,
    ``_significant_against``, ``_undecided``, ``_point_estimate``) and, when the cube has design
    points, the pooled differences (``pooled_<quantity>_mean``, ``_low``, ``_high``,
    ``_naive_low``, ``_naive_high``, and ``pooled_clustering``) as columns."""
    from .compare import design_dims
    from .decided import decided_summary

    out = {r["strategy"]: dict(r) for r in rows}
    for d in decided_summary(result):
        record = out[d["strategy"]]
        for key in ("significant_for", "significant_against", "undecided", "point_estimate"):
            record[f"{d['claim']}_{key}"] = d[key]
    if design_dims(ds):
        from .pooled import QUANTITY_KEYS, pooled_differences

        pooled, how = pooled_differences(ds, baseline, confidence)
        for p in pooled:
            record = out[p["strategy"]]
            name = QUANTITY_KEYS[p["quantity"]]
            for key in ("mean", "low", "high", "naive_low", "naive_high"):
                record[f"pooled_{name}_{key}"] = p[key]
            record["pooled_clustering"] = how
    return list(out.values())
