"""Checksums of what a cube stores, and ``rollout verify --integrity``: reading everything back
and recomputing nothing, so that flipped bytes, swapped or deleted chunk files are found in
seconds, where recomputing (``rollout verify``) samples a few blocks and takes minutes.

A sweep records one checksum per block of replicates at a design point, written with the block
(before its flag); a single-run cube records one per variable in its ``checksums`` attribute.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import xarray as xr

from . import blocks
from .names import config_field


def block_checksum(arrays: dict[str, np.ndarray]) -> int:
    """BLAKE2b (8 bytes) over the arrays' bytes in name order, as an unsigned 64-bit integer."""
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        _feed(digest, name, array.dtype, [array])
    return int.from_bytes(digest.digest(), "little")


def _feed(digest, name: str, dtype: np.dtype, slabs) -> None:
    """One array into the digest: its name, its dtype, then its C-order bytes (given whole or
    as consecutive slabs along the first axis, which are the same bytes)."""
    digest.update(name.encode("utf-8"))
    digest.update(str(dtype).encode("ascii"))
    for slab in slabs:
        digest.update(np.ascontiguousarray(slab).tobytes())


def variable_checksums(ds: xr.Dataset) -> dict[str, str]:
    """Hex checksum of every numeric data variable of a cube, as it will be stored (the same
    digest as ``block_checksum`` of the whole variable)."""
    return {name: f"{_streamed_checksum(name, var):016x}"
            for name, var in ds.data_vars.items() if var.dtype.kind in "biuf"}


#: Bytes read at a time when a variable is checksummed (a lazily opened sweep's series can be
#: gigabytes: they are hashed slab by slab along their first dimension, never held whole).
SLAB_BYTES = 64 * 2**20


def _streamed_checksum(name: str, var: xr.DataArray) -> int:
    digest = hashlib.blake2b(digest_size=8)
    if var.ndim == 0:
        slabs = [var.values]
    else:
        step = max(1, SLAB_BYTES // max(1, var.nbytes // max(var.shape[0], 1)))
        slabs = (var[start:start + step].values for start in range(0, var.shape[0], step))
    _feed(digest, name, var.dtype, slabs)
    return int.from_bytes(digest.digest(), "little")


def check_integrity(path: str | Path) -> tuple[bool, list[str]]:
    """(every recorded checksum matches?, report lines) for the cube at ``path``."""
    path = Path(path)
    if path.is_dir():
        import zarr

        group = zarr.open_group(path, mode="r", zarr_format=2)
        if blocks.array(group, blocks.CHECKSUMS) is not None:
            return _check_blocks(group)
    raw = (xr.open_zarr(path, decode_cf=False, mask_and_scale=False) if path.is_dir()
           else xr.open_dataset(path, engine="h5netcdf", decode_cf=False, mask_and_scale=False))
    with raw:
        recorded = json.loads(raw.attrs.get("checksums", "{}"))
        if not recorded:
            return False, ["no checksums recorded (a cube written before rollout recorded "
                           "them): only rollout verify (recomputing) can check it"]
        bad = [name for name, value in recorded.items()
               if name not in raw or f"{block_checksum({name: raw[name].values}):016x}" != value]
        lines = [f"DAMAGED   {name}" for name in bad]
        lines.append(f"all {len(recorded)} variables match their checksums" if not bad else
                     f"{len(bad)} of {len(recorded)} variables do not match their checksums")
        return not bad, lines


def _check_blocks(group) -> tuple[bool, list[str]]:
    """A sweep store, read with zarr one design point at a time (every variable's chunks of
    that point in one read each), each block's bytes against its recorded checksum."""
    attrs = group.attrs.asdict()
    dims = json.loads(attrs.get("design", '{"dims": []}'))["dims"]
    block = int(attrs["block_size"])
    flags = np.asarray(blocks.array(group, blocks.FLAGS)[...])
    sums = np.asarray(blocks.array(group, blocks.CHECKSUMS)[...])
    lead = [*dims, "strategy", "replicate"]
    names = sorted(name for name, array in group.arrays()
                   if list(array.attrs.get("_ARRAY_DIMENSIONS", []))[:len(lead)] == lead)
    coords = {d: np.asarray(group[d][...]) for d in dims if d in group}
    bad = []
    checked = 0
    for point in np.ndindex(*flags.shape[:-1]):
        written = np.flatnonzero(flags[point] == 1)
        if not len(written):
            continue
        slabs = {name: group[name][point] for name in names}   # (strategy, replicate, ...)
        for b in written:
            reps = slice(int(b) * block, (int(b) + 1) * block)
            checked += 1
            if block_checksum({n: a[:, reps] for n, a in slabs.items()}) != int(
                    sums[point + (b,)]):
                label = ", ".join(f"{config_field(d)}={coords[d][i]}"
                                  for d, i in zip(dims, point, strict=True)
                                  if d in coords) or "run"
                stop = min(reps.stop, next(iter(slabs.values())).shape[1])
                bad.append(f"DAMAGED   {label}, replicates {reps.start}-{stop - 1}")
    lines = bad + [f"all {checked} written blocks match their checksums" if not bad else
                   f"{len(bad)} of {checked} written blocks do not match their checksums"]
    return not bad, lines
