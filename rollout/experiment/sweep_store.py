"""A sweep's Zarr store, written block by block as results land, and resumable.

The store is laid out before any run: every variable with the design dimensions in front,
chunked one design point by ``block_size`` replicates, so each block of replicates at a point
owns whole chunks. The driver is the only writer: it writes a block's data, then sets the block's
flag (kept in the subgroup ``blocks``, out of readers' way: ``blocks.py``). A store whose
attribute ``complete`` is not "true" is a sweep in progress; running the same sweep again skips
the flagged blocks, and the result is bit-identical to an uninterrupted run (a block interrupted
mid-write is simply written again, with the same values).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from ..config import RolloutConfig
from ..data import Provinces
from ..errors import RolloutError
from . import blocks
from .cube import (
    _remove,
    base_coords,
    is_cube,
    provenance,
    reader_encoding,
    safe_to_delete,
    variable_specs,
)
from .designs import Design, block_size, n_blocks
from .integrity import block_checksum
from .names import stored_name
from .opening import read_guard


def template(config: RolloutConfig, provinces: Provinces, design: Design) -> xr.Dataset:
    """The sweep cube with lazy placeholder data: used to lay the store out, never computed.

    Design dimensions and coordinates take CF-valid names (``stored_name``: no dots), each
    coordinate naming its config field in the attribute ``config_field``."""
    block = block_size(config)
    coords = base_coords(config, provinces)
    for name, (dims, values) in design.coords.items():
        coords[stored_name(name)] = (tuple(stored_name(d) for d in dims), values, {
            "long_name": "design parameter" if name not in ("point", "scenario")
            else f"design {name}", "config_field": name})
    dims_stored = [stored_name(d) for d in design.dims]
    sizes = {"strategy": len(config.strategies), "replicate": config.replicates,
             "time": len(coords["time"][1]), "province": len(provinces),
             "track": len(config.tracks),
             "stable_threshold": len(config.outcomes.stable_harm_shares)}
    sizes.update(dict(zip(dims_stored, design.shape, strict=True)))
    data_vars = {}
    for name, (dims, dtype, attrs) in variable_specs(config).items():
        full_dims = tuple(dims_stored) + dims
        shape = tuple(sizes[d] for d in full_dims)
        chunks = tuple(1 if d in dims_stored else min(block, sizes[d]) if d == "replicate"
                       else sizes[d] for d in full_dims)
        fill = np.nan if dtype.kind == "f" else 0
        data_vars[name] = (full_dims, da.full(shape, fill, dtype=dtype, chunks=chunks), attrs)
    attrs = provenance(config, provinces, complete=False)
    attrs.update({"block_size": str(block), "design": json.dumps(
        {"kind": (config.sweep.design if config.sweep else "single"), "dims": dims_stored})})
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _encoding(ds: xr.Dataset) -> dict:
    enc = reader_encoding(ds)
    for name, var in ds.data_vars.items():
        enc[name] = {"chunks": var.data.chunksize}
        if var.dtype.kind != "f":
            # no CF fill value: xarray would decode masked integers as floats. Unwritten
            # integer chunks read as 0; the block flags say which blocks are written.
            enc[name]["_FillValue"] = None
    return enc


def create(path: Path, ds: xr.Dataset, flags_shape: tuple[int, ...]) -> None:
    """Lay the store out (metadata, coordinates and the block bookkeeping; data chunks stay
    unwritten) in a hidden folder beside ``path``, then move it into place: a kill during the
    layout leaves only that folder (removed by the next writer), never a half-laid store at
    ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.layout-{os.getpid()}")
    _remove(aside)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            ds.to_zarr(aside, mode="w", compute=False, encoding=_encoding(ds),
                       consolidated=True, zarr_format=2)
        group = zarr.open_group(aside, mode="r+", zarr_format=2)
        blocks.create(group, json.loads(ds.attrs["design"])["dims"], flags_shape,
                      int(ds.attrs["block_size"]))
        zarr.consolidate_metadata(str(aside))
        os.replace(aside, path)
    except BaseException:
        _remove(aside)
        raise


def prepare(path: Path, config: RolloutConfig, provinces: Provinces, design: Design,
            overwrite: bool) -> np.ndarray:
    """Create the store, or reopen it to resume. Returns the block flags (design shape + blocks).

    A store of a different configuration is refused unless ``overwrite``; an existing path that
    is not a rollout cube is never touched."""
    if path.exists() or path.is_symlink():
        if not is_cube(path):
            raise RolloutError(f"{path}: exists and is not a rollout cube; refusing to touch it")
        with read_guard(path), warnings.catch_warnings():
            # zarr warns of files it does not know (a .DS_Store): not the user's concern here
            warnings.simplefilter("ignore")
            group = zarr.open_group(path, mode="r", zarr_format=2) if path.is_dir() else None
            same = (group is not None
                    and group.attrs.get("config_sha256") == config.config_hash())
            flags = blocks.flags(group) if same else None
            if flags is not None:
                return flags
        if not overwrite:
            theirs = group.attrs.get("config_sha256", "?")[:12] if group is not None else "?"
            why = ("holds this configuration without its block flags, so what was written "
                   "is unknown" if same else f"holds a different configuration (sha256 "
                   f"{theirs}..., this one {config.config_hash()[:12]}...)")
            raise RolloutError(f"{path}: {why}; use --overwrite to replace it")
        if not safe_to_delete(path):
            raise RolloutError(f"{path}: holds files rollout did not write; refusing to "
                               "replace it")
        _remove(path)
    shape = tuple(design.shape) + (n_blocks(config.replicates, block_size(config)),)
    create(path, template(config, provinces, design), shape)
    return np.zeros(shape, np.uint8)


class Writer:
    """The sweep's single writer: block data first, then its flag."""

    def __init__(self, path: Path, config: RolloutConfig, provinces: Provinces, design: Design):
        self.group = zarr.open_group(path, mode="r+", zarr_format=2)
        self.design = design
        self.block = block_size(config)
        self.specs = variable_specs(config)
        self.flags = blocks.array(self.group, blocks.FLAGS)
        self.sums = blocks.array(self.group, blocks.CHECKSUMS)

    def write(self, point: int, block: int, values: dict[str, np.ndarray]) -> None:
        """Write one block's variables (as from ``cube.stored_values``), then its flag."""
        idx = self.design.index(point)
        start = block * self.block
        arrays = {}
        for name, (_, dtype, _) in self.specs.items():
            array = np.ascontiguousarray(values[name].astype(dtype, copy=False))
            stop = start + array.shape[1]
            self.group[name][idx + (slice(None), slice(start, stop))] = array
            arrays[name] = array
        if self.sums is not None:
            self.sums[idx + (block,)] = block_checksum(arrays)
        self.flags[idx + (block,)] = 1


def finalize(path: Path) -> None:
    """Mark the store complete and consolidate its metadata."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # a stray file in the store is not an error
        _finalize(path)


def _finalize(path: Path) -> None:
    group = zarr.open_group(path, mode="r+", zarr_format=2)
    flags = blocks.flags(group)
    if flags is None or not flags.all():
        missing = "its block flags" if flags is None else f"{int((flags == 0).sum())} blocks"
        raise RolloutError(f"{path}: {missing} are still missing")
    group.attrs.update({"complete": "true",
                        "completed": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    zarr.consolidate_metadata(str(path))
