"""A config run (every strategy, not a sweep) from its config to its cube: what ``rollout run``
and ``rollout.run`` share, so the command line and the Python API cannot drift apart."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from ..config import RolloutConfig
from ..data import Provinces
from .cube import build_cube, check_output, write_cube
from .executors import make_executor
from .locking import output_lock
from .runner import run_experiment


@dataclass
class RunOutcome:
    """The cube of a run (as built in memory), and where and how long it was simulated."""

    cube: xr.Dataset
    workers: int
    where: str          # the executor's description ("in this process", "on a local cluster...")
    seconds: float      # simulation wall time (building and writing the cube not included)


def run_to_cube(config: RolloutConfig, provinces: Provinces, *, workers: int = 1,
                scheduler: str | None = None, out: Path | None = None, fmt: str = "zarr",
                overwrite: bool = False, on_block: Callable | None = None) -> RunOutcome:
    """Simulate every strategy of ``config`` and build its cube; with ``out``, write it there.

    The output is checked before any work and again once its lock is held (one writer per
    output, from that check to the write), so bad output paths fail before simulating and a run
    that dies leaves no partial cube (write_cube). One worker and no scheduler run in this
    process; otherwise a Dask cluster (local, or the one at ``scheduler``)."""
    if out is not None:
        check_output(out, overwrite)
    with output_lock(out) if out is not None else contextlib.nullcontext():
        if out is not None:
            check_output(out, overwrite)
        began = time.perf_counter()
        with make_executor(workers == 1 and not scheduler, workers, scheduler) as executor:
            result = run_experiment(config, provinces, executor=executor, on_block=on_block)
            n_workers, where = executor.workers, executor.description
        seconds = time.perf_counter() - began
        ds = build_cube(config, provinces, result)
        if out is not None:
            write_cube(ds, out, fmt, overwrite=overwrite, lock=False)
    return RunOutcome(ds, n_workers, where, seconds)

