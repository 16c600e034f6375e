"""``t_overtake`` for any cube: stored at write time, or computed from the cube's own series.

A cube written since issue 21 stores ``t_overtake`` against its config's ``analysis.baseline``
(experiment/crossover.py). For an older cube, or a comparison with another baseline, the same
function computes it from the stored cumulative harm and benefit of every province (exact
integrals at the grid points), so both routes give the same number.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import RolloutError
from ..experiment.crossover import national_net, overtake_from_series


def months_of(cube: xr.Dataset) -> np.ndarray:
    """The sampling grid in months since the start (the ``month`` coordinate)."""
    if "month" not in cube.coords:
        raise RolloutError("the cube has no 'month' coordinate: its grid in months is unknown")
    return np.asarray(cube["month"].values, float)


def computed_overtake(cube: xr.Dataset, baseline: str) -> xr.DataArray:
    """t_overtake recomputed from ``benefit`` and ``harm`` (lazily on a dask-backed cube)."""
    for name in ("benefit", "harm"):
        if name not in cube:
            raise RolloutError(f"t_overtake: the cube has no {name!r} series to compute it from")
    strategies = [str(s) for s in cube["strategy"].values]
    b = strategies.index(baseline)
    months = months_of(cube)

    def one(benefit: np.ndarray, harm: np.ndarray) -> np.ndarray:
        # core dims last: (..., strategy, time, province); strategy moved first and back last
        ben = np.moveaxis(benefit, -3, 0)
        har = np.moveaxis(harm, -3, 0)
        return np.moveaxis(overtake_from_series(ben, har, months, b), 0, -1)

    # replicate is not a core dimension: a store chunked by blocks of replicates stays so
    out = xr.apply_ufunc(
        one, cube["benefit"], cube["harm"],
        input_core_dims=[["strategy", "time", "province"]] * 2,
        output_core_dims=[["strategy"]], dask="parallelized", output_dtypes=[float])
    out = out.transpose(..., "strategy", "replicate")       # the cube's order of a run
    return out.assign_attrs(units="months", baseline=baseline,
                            long_name="t_overtake, computed from the cube's harm and benefit")


def overtake_times(cube: xr.Dataset, baseline: str) -> xr.DataArray:
    """The stored ``t_overtake`` when it is against ``baseline``, else computed."""
    if "t_overtake" in cube and cube["t_overtake"].attrs.get("baseline") == baseline:
        return cube["t_overtake"]
    return computed_overtake(cube, baseline)


def with_overtake(cube: xr.Dataset, baseline: str) -> xr.Dataset:
    """The cube with ``t_overtake`` against ``baseline`` as a per-replicate variable."""
    if "t_overtake" in cube and cube["t_overtake"].attrs.get("baseline") == baseline:
        return cube
    return cube.assign(t_overtake=computed_overtake(cube, baseline))


def net_difference(cube: xr.Dataset, baseline: str) -> xr.DataArray:
    """Cumulative national net benefit minus the baseline's, per replicate and grid time."""
    net = xr.apply_ufunc(national_net, cube["benefit"], cube["harm"],
                         input_core_dims=[["province"]] * 2, dask="parallelized",
                         output_dtypes=[float])
    return net - net.sel(strategy=baseline)
