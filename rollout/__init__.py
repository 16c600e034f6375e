"""rollout: a discrete-event microsimulation of phased national policy rollout.

Run configs with the ``rollout`` command, or from Python: :func:`run`, :func:`sweep`,
:func:`load_config`, :func:`validate`, :func:`open_cube` (rollout/api.py). Importing the
package, and opening a cube, import neither the simulator nor Dask.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("rollout")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"


def open_cube(path):
    """Open a result cube (Zarr store or NetCDF file) lazily and check that it is a rollout cube.

    See :func:`rollout.experiment.opening.open_cube`."""
    from .experiment.opening import open_cube as _open

    return _open(path)


def __getattr__(name: str):
    """``run``, ``sweep``, ``load_config`` and ``validate`` are imported when first used
    (api.py)."""
    if name in ("run", "sweep", "load_config", "validate"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'rollout' has no attribute {name!r}")


__all__ = ["load_config", "open_cube", "run", "sweep", "validate", "__version__"]
