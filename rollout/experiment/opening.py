"""Opening a result cube: xarray and the checks that it is a rollout cube, nothing else.

Kept apart from ``cube.py`` (which knows the model's schema) so that ``rollout.open_cube`` does
not import the simulator: opening a cube costs what opening it with xarray costs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import xarray as xr

from ..errors import RolloutError


def open_cube(path: str | Path, *, finished: bool = False, warn: bool = True) -> xr.Dataset:
    """Open a rollout cube (Zarr store or NetCDF file) lazily and check that it is one.

    A sweep still running (or interrupted) is a cube whose unfinished blocks hold no results:
    with ``finished`` it is refused, naming how far it got (analyses would count points that
    never ran as never reaching their thresholds); otherwise it opens with a warning (``warn``).
    """
    path = Path(path)
    if not path.exists():
        raise RolloutError(f"{path}: no such cube")
    try:
        with warnings.catch_warnings():
            # a store without consolidated metadata is read all the same; the warning that
            # says so is noise in front of a command's one-line answer
            warnings.simplefilter("ignore", RuntimeWarning)
            if path.is_dir():
                ds = xr.open_zarr(path)
            else:
                ds = xr.open_dataset(path, engine="h5netcdf", chunks={})
    except Exception as err:  # noqa: BLE001 - any reader failure means 'not a cube we can read'
        raise RolloutError(f"{path}: cannot be read as a cube ({type(err).__name__}: {err})") \
            from None
    if ds.attrs.get("rollout_cube") is None:
        ds.close()
        raise RolloutError(f"{path}: not a rollout cube (no 'rollout_cube' attribute)")
    if ds.attrs.get("complete") != "true":
        if finished:
            progress = ""
            if "block_done" in ds:
                flags = ds["block_done"].values
                progress = f" ({int(flags.sum()):,} of {flags.size:,} blocks done)"
            ds.close()
            raise RolloutError(f"{path}: the sweep is unfinished{progress}; rerun the same "
                               "rollout sweep command to finish it (it resumes)")
        if warn:
            warnings.warn(f"{path}: the cube is incomplete", stacklevel=2)
    return ds
