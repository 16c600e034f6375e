"""rollout: a discrete-event microsimulation of phased national policy rollout.

Run configs with the ``rollout`` command; open result cubes with :func:`open_cube`.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("rollout")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"


def open_cube(path):
    """Open a result cube (Zarr store or NetCDF file) lazily and check that it is a rollout cube.

    See :func:`rollout.experiment.cube.open_cube`."""
    from .experiment.cube import open_cube as _open

    return _open(path)


__all__ = ["open_cube", "__version__"]
