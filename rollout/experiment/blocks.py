"""Where a sweep store keeps its bookkeeping: a block flag and a block checksum per design point
and block of replicates.

They live in the Zarr subgroup ``blocks``, out of the way of readers: xarray, netCDF-C and GDAL
open the root group and see results only (no ``block`` dimension to skip, nothing internal in
``ds.to_dataframe()``). Stores written before rollout moved them there hold them at the root;
every reader here looks in both places.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

GROUP = "blocks"
FLAGS = "block_done"
CHECKSUMS = "block_checksum"
NAMES = (FLAGS, CHECKSUMS)


def create(root: zarr.Group, design_dims: list[str], shape: tuple[int, ...],
           block: int) -> None:
    """Lay out the bookkeeping arrays (all zero: no block written)."""
    group = root.require_group(GROUP)
    group.attrs["comment"] = ("rollout's bookkeeping of a resumable sweep: which blocks of "
                              "replicates are written, and their checksums")
    dims = [*design_dims, "block"]
    flags = group.create_array(FLAGS, shape=shape, chunks=shape, dtype="uint8", fill_value=0,
                               overwrite=True)
    flags.attrs.update({"_ARRAY_DIMENSIONS": dims, "units": "1",
                        "long_name": f"1 when the block of {block} replicates is written"})
    sums = group.create_array(CHECKSUMS, shape=shape, chunks=shape, dtype="uint64",
                              fill_value=0, overwrite=True)
    sums.attrs.update({"_ARRAY_DIMENSIONS": dims, "units": "1",
                       "long_name": "checksum of the block's stored bytes",
                       "comment": "BLAKE2b, 8 bytes, over every result variable of the block in "
                                  "name order, as stored; rollout verify --integrity checks it"})
    flags[...] = 0


def array(root: zarr.Group, name: str) -> zarr.Array | None:
    """A bookkeeping array of the store, wherever this store's version keeps it (or None)."""
    if GROUP in root and name in root[GROUP]:
        return root[GROUP][name]
    if name in root:
        return root[name]
    return None


def flags(root: zarr.Group) -> np.ndarray | None:
    """The block flags (design shape + blocks), or None for a store without them."""
    found = array(root, FLAGS)
    return None if found is None else np.asarray(found[...])


def read_flags(path: str | Path) -> np.ndarray | None:
    """The block flags of the store at ``path``, or None (a NetCDF file, a single run, an
    unreadable store)."""
    if not Path(path).is_dir():
        return None
    try:
        return flags(zarr.open_group(Path(path), mode="r", zarr_format=2))
    except (OSError, ValueError, KeyError, TypeError):
        return None
