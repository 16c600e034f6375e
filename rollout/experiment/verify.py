"""Recompute blocks of a cube from its stored configuration and seed; compare bit for bit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..config import validate_dict
from ..data import (
    BUNDLED_PREFIX,
    Provinces,
    bundled_names,
    bundled_tables,
    is_bundled,
    read_provinces,
    select_provinces,
)
from ..errors import ConfigError, RolloutError
from . import blocks
from .cube import stored_values, variable_specs, volume_share
from .designs import Design, build_design, n_blocks, point_config
from .names import config_field, stored_name
from .opening import stored_config_json
from .runner import run_block


def verify_cube(ds: xr.Dataset, sample: int, seed: int | None = None,
                data: str | Path | None = None, path: str | Path = "the cube"
                ) -> tuple[bool, list[str]]:
    """Recompute ``sample`` randomly chosen finished blocks; (all equal?, report lines).

    The province table is found by the content hash the cube records (among the bundled tables,
    or ``data``), never by the path its stored config names: a cube from elsewhere does not get
    to choose which local file is opened."""
    try:
        config = validate_dict(json.loads(stored_config_json(ds.attrs)))
    except (ValueError, ConfigError) as err:
        problem = err.problem if isinstance(err, ConfigError) else str(err)
        raise RolloutError(f"{path}: its stored configuration is not usable ({problem})"
                           ) from None
    names = [str(s) for s in ds["strategy"].values]
    if sorted(names) != sorted(config.strategies):     # the stored JSON sorts its keys
        raise RolloutError(f"{path}: its strategies {names} are not its config's "
                           f"{list(config.strategies)}")
    dims = json.loads(ds.attrs.get("design", '{"dims": []}'))["dims"]
    design = build_design(config) if dims else Design([], (), {}, [{}])
    flags = blocks.read_flags(path) if dims else None
    if dims and flags is None and Path(path).is_file() and ds.attrs.get("complete") == "true" \
            and "block_size" in ds.attrs:
        # a finished sweep's NetCDF copy carries no flags: every block was written (a Zarr
        # store without them is damaged, and refused below)
        flags = np.ones(tuple(design.shape) + (
            n_blocks(config.replicates, int(ds.attrs["block_size"])),), np.uint8)
    if dims and flags is None:
        raise RolloutError(f"{path}: a sweep without its block flags: which "
                           "blocks were written is unknown")
    _check_design_coords(ds, design, path)
    provinces = _provinces_by_hash(config, ds, data, path)
    if flags is not None:
        block = int(ds.attrs["block_size"])
        done = flags.reshape(design.size, -1)
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
        fresh = stored_values(cfg, result.series, result.summary, share, names)
        where = dict(zip(dims, design.index(p), strict=True))
        bad = []
        for name in [n for n in specs if n in ds]:    # an older cube lacks newer outcomes
            stored = ds[name].isel(where).isel(replicate=slice(start, stop)).values
            if not np.array_equal(stored, fresh[name], equal_nan=True):
                bad.append(name)
        label = ", ".join(f"{config_field(d)}={ds[d].values[i]}" for d, i in where.items()) \
            or "run"
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


def _stored(ds: xr.Dataset, field: str) -> str:
    """A design field's name in this cube: CF-valid, or the dotted path of older cubes."""
    return field if field in ds.variables else stored_name(field)


def _check_design_coords(ds: xr.Dataset, design: Design, path: str | Path) -> None:
    """The stored design must be the one its config builds (else blocks would be recomputed at
    other parameter values and blamed for differing)."""
    if tuple(ds.sizes.get(_stored(ds, d), -1) for d in design.dims) != tuple(design.shape):
        raise RolloutError(f"{path}: its design dimensions disagree with its config's "
                           f"({dict(zip(design.dims, design.shape, strict=True))})")
    for name, (_, values) in design.coords.items():
        name = _stored(ds, name)
        stored = ds[name].values if name in ds.coords else None
        if stored is None or stored.shape != values.shape or not all(
                _same(a, b) for a, b in zip(stored.tolist(), values.tolist(), strict=True)):
            raise RolloutError(f"{path}: its stored design values of {name!r} disagree with "
                               "the design its config builds")


def _same(a: object, b: object) -> bool:
    """Equal design values: numbers by value (a cube may store 10.0 where the design now
    builds 10), labels and switches by text."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return a == b
    return str(a) == str(b)


def _provinces_by_hash(config, ds: xr.Dataset, data: str | Path | None,
                       path: str | Path) -> Provinces:
    want = ds.attrs.get("data_sha256")
    tables = bundled_tables()
    if data is None:
        candidates = [tables[name] for name in sorted(tables)]
    elif is_bundled(str(data)):
        name = str(data).removeprefix(BUNDLED_PREFIX)
        if name not in tables:
            raise RolloutError(f"--data {data}: no such bundled table (bundled: "
                               f"{bundled_names()})")
        candidates = [tables[name]]
    else:
        candidates = [Path(data)]
    for candidate in candidates:
        try:
            digest = hashlib.sha256(candidate.read_bytes()).hexdigest()
        except OSError as err:
            raise RolloutError(f"{candidate}: cannot read ({err.strerror or err})") from None
        if digest == want:
            table = read_provinces(candidate, str(candidate))
            return select_provinces(table, config.regions.provinces, str(path))
    where = (f"{data} does not match it" if data is not None
             else "none of the bundled province tables matches it")
    raise RolloutError(f"{path}: made with a province table of sha256 {str(want)[:12]}...; "
                       f"{where} (pass the table it was made with: --data FILE)")
