"""The design points of a sweep cube as a table: one row per point, in C order over the design
dimensions (the order in which compare's results flatten), one column per swept parameter.

Grid and factor dimensions give their coordinate; a Latin hypercube or Sobol ``point`` dimension
gives every sampled parameter along it; a ``scenario`` dimension gives the scenario's name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import RolloutError
from ..experiment.names import config_field
from .compare import design_dims


def sampled_parameters(cube: xr.Dataset) -> list[str]:
    """Parameters sampled along ``point`` (Latin hypercube, Sobol)."""
    return [n for n, c in cube.coords.items() if c.dims == ("point",) and n != "point"]


def design_frame(cube: xr.Dataset) -> tuple[pd.DataFrame, list[str]]:
    """The table of design points (columns named by config field, ``adoption.steering``, as
    the config names it) and the design dimensions it flattens (as the cube names them)."""
    dims = design_dims(cube)
    if not dims:
        raise RolloutError("this needs a sweep cube (a single run has no design points)")
    shape = [cube.sizes[d] for d in dims]
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    columns: dict[str, np.ndarray] = {}
    for d, grid in zip(dims, grids, strict=True):
        idx = grid.ravel()
        if d == "point":
            for name in sampled_parameters(cube):
                columns[config_field(name)] = np.asarray(cube[name].values)[idx]
        else:
            columns[config_field(d)] = np.asarray(cube[d].values)[idx]
    return pd.DataFrame(columns), dims
