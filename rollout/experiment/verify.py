"""Recompute blocks of a cube from its stored configuration and seed; compare bit for bit."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..config import validate_dict
from ..data import load_provinces
from ..errors import RolloutError
from .cube import stored_values, variable_specs, volume_share
from .designs import Design, build_design, point_config
from .runner import run_block


def verify_cube(ds: xr.Dataset, sample: int, seed: int | None = None) -> tuple[bool, list[str]]:
    """Recompute ``sample`` randomly chosen finished blocks; (all equal?, report lines)."""
    config = validate_dict(json.loads(ds.attrs["config"]))
    names = [str(s) for s in ds["strategy"].values]
    dims = json.loads(ds.attrs.get("design", '{"dims": []}'))["dims"]
    design = build_design(config) if dims else Design([], (), {}, [{}])
    provinces = load_provinces(config)
    if provinces.sha256 != ds.attrs.get("data_sha256"):
        raise RolloutError(f"data file {provinces.path} differs from the one the cube was made "
                           "with (sha256 mismatch); cannot verify")
    if "block_done" in ds:
        block = int(ds.attrs["block_size"])
        done = np.asarray(ds["block_done"].values).reshape(design.size, -1)
    else:                               # a single run cube: any replicate is a block
        block = 1
        done = np.ones((1, config.replicates), np.uint8)
    candidates = np.argwhere(done == 1)
    if len(candidates) == 0:
        return True, ["no finished blocks to verify"]
    rng = np.random.default_rng(seed)
    chosen = candidates[rng.choice(len(candidates), min(sample, len(candidates)), replace=False)]
    share = volume_share(provinces)
    specs = variable_specs(config)
    ok_all = True
    lines = []
    for p, b in sorted(map(tuple, chosen)):
        start, stop = int(b) * block, min(config.replicates, (int(b) + 1) * block)
        cfg = point_config(config, design.points[p]) if dims else config
        result = run_block(cfg.canonical_json(), names, provinces, cfg.seed, start, stop)
        fresh = stored_values(cfg, result.series, result.summary, share)
        where = dict(zip(dims, design.index(p), strict=True))
        bad = []
        for name in specs:
            stored = ds[name].isel(where).isel(replicate=slice(start, stop)).values
            if not np.array_equal(stored, fresh[name], equal_nan=True):
                bad.append(name)
        label = ", ".join(f"{d}={ds[d].values[i]}" for d, i in where.items()) or "run"
        reps = f"replicates {start}-{stop - 1}"
        if bad:
            ok_all = False
            lines.append(f"MISMATCH  {label}, {reps}: {', '.join(bad)}")
        else:
            lines.append(f"ok        {label}, {reps}: {len(specs)} variables identical")
    lines.append(f"{'all' if ok_all else 'NOT all'} {len(chosen)} recomputed blocks match "
                 "bit for bit" if ok_all else f"{sum('MISMATCH' in x for x in lines)} of "
                 f"{len(chosen)} recomputed blocks differ")
    return ok_all, lines
