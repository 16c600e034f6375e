"""Opening a result cube: xarray and the checks that it is a rollout cube, nothing else.

Kept apart from ``cube.py`` (which knows the model's schema) so that ``rollout.open_cube`` does
not import the simulator: opening a cube costs what opening it with xarray costs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import traceback
import warnings
from collections.abc import Iterator
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
    problem = structure_problem(ds)
    if problem:
        ds.close()
        raise RolloutError(f"{path}: not a usable rollout cube ({problem})")
    if ds.attrs.get("complete") != "true":
        if finished:
            progress = ""
            from .blocks import read_flags

            flags = read_flags(path)
            if flags is not None:
                progress = f" ({int(flags.sum()):,} of {flags.size:,} blocks done)"
            ds.close()
            raise RolloutError(f"{path}: the sweep is unfinished{progress}; rerun the same "
                               "rollout sweep command to finish it (it resumes)")
        if warn:
            warnings.warn(f"{path}: the cube is incomplete", stacklevel=2)
    return ds


#: What every cube has, whatever its design: the commands rely on these.
REQUIRED_COORDS = ("strategy", "replicate")


def stored_config_json(attrs: dict) -> str:
    """The configuration a cube records, checked against the sha256 it records beside it (an
    edited or damaged config would otherwise pass silently for the one that made the cube)."""
    text = attrs.get("config")
    if not isinstance(text, str) or not text:
        raise ValueError("no stored configuration (attribute 'config')")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != attrs.get("config_sha256"):
        raise ValueError("its stored configuration does not match its config_sha256 (edited "
                         "or damaged)")
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("its stored configuration is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError("its stored configuration is not a table")
    return text


def structure_problem(ds: xr.Dataset) -> str | None:
    """Why ``ds`` cannot be the cube it claims to be, or None: its config and hash, and the
    coordinates every command relies on."""
    try:
        stored_config_json(ds.attrs)
    except ValueError as err:
        return str(err)
    for name in REQUIRED_COORDS:
        if name not in ds.coords:
            return f"no {name!r} coordinate"
    return None


_STORAGE_MODULES = ("zarr", "numcodecs", "h5py", "h5netcdf", "blosc", "fsspec")


@contextlib.contextmanager
def read_guard(path: str | Path) -> Iterator[None]:
    """Turn a failure inside the storage libraries (a damaged chunk, a truncated file) into one
    line naming the store; any other error is a bug and keeps its traceback."""
    try:
        yield
    except RolloutError:
        raise
    except Exception as err:  # noqa: BLE001 - re-raised unless the storage layer failed
        frames = traceback.extract_tb(sys.exc_info()[2])
        modules = {Path(f.filename).parts for f in frames}
        if not any(part in _STORAGE_MODULES for parts in modules for part in parts):
            raise
        message = str(err).splitlines()[0][:200] if str(err) else ""
        raise RolloutError(f"{path}: stored data cannot be read, the store may be damaged "
                           f"({type(err).__name__}: {message})") from None
