"""Running a sweep: blocks of replicates at design points, streamed into a resumable store;
loading a sweep config, and the dry-run plan of a sweep."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import RolloutConfig
from ..data import Provinces
from ..streams import stream
from . import sweep_store
from .cube import block_values, stored_values, volume_share
from .designs import (
    Design,
    block_size,
    n_blocks,
    point_config,
)
from .inputs import checked_design, load_sweep  # noqa: F401  (re-exported)
from .locking import output_lock
from .runner import run_block, strategy_names


def sweep_task(config_json: str, names: list[str], provinces: Provinces, point: int,
               block: int, start: int, stop: int) -> tuple[int, int, dict, float]:
    """One task: replicates [start, stop) of every strategy at one design point, returned as
    the store's variables in their stored dtypes (the worker does the casting, not the driver)."""
    import json

    from ..config import validate_dict

    result = run_block(config_json, names, provinces, json.loads(config_json)["seed"], start,
                       stop)
    values = stored_values(validate_dict(json.loads(config_json)), result.series,
                           result.summary, volume_share(provinces), names)
    return point, block, values, result.seconds


@dataclass
class SweepReport:
    path: Path
    points: int
    blocks_total: int
    blocks_run: int
    runs_run: int
    wall_seconds: float
    cpu_seconds: float


def block_tasks(config: RolloutConfig, design: Design, done: np.ndarray,
                order_seed: int | None = None) -> list[tuple[int, int, int, int]]:
    """(point, block, start, stop) of every block not yet done; optionally shuffled."""
    size = block_size(config)
    blocks = n_blocks(config.replicates, size)
    flat = done.reshape(design.size, blocks) if design.dims else done.reshape(1, blocks)
    tasks = [(p, b, b * size, min(config.replicates, (b + 1) * size))
             for p in range(design.size) for b in range(blocks) if not flat[p, b]]
    if order_seed is not None:
        order = stream(order_seed, 0, "task-order").permutation(len(tasks))
        tasks = [tasks[i] for i in order]
    return tasks


def run_sweep(config: RolloutConfig, provinces: Provinces, design: Design, path: Path,
              executor, overwrite: bool = False,
              on_block: Callable[[int], None] | None = None,
              on_start: Callable[[int, int], None] | None = None,
              order_seed: int | None = None, lock: bool = True) -> SweepReport:
    """Run (or resume) a sweep into the store at ``path``, holding its lock (one writer per
    store; ``lock=False`` when the caller holds it already); returns what was done."""
    with output_lock(path) if lock else contextlib.nullcontext():
        began = time.perf_counter()
        done = sweep_store.prepare(path, config, provinces, design, overwrite)
        tasks = block_tasks(config, design, done, order_seed)
        names = strategy_names(config)
        runs_per_replicate = len(names)
        total_blocks = int(done.size)
        if on_start is not None:
            done_runs = config.replicates * design.size * runs_per_replicate - sum(
                (stop - start) * runs_per_replicate for _, _, start, stop in tasks)
            on_start(done_runs, config.replicates * design.size * runs_per_replicate)
        point_json = {p: point_config(config, design.points[p]).canonical_json()
                      for p in sorted({t[0] for t in tasks})}
        writer = sweep_store.Writer(path, config, provinces, design)
        cpu = 0.0
        runs = 0
        work = [(point_json[p], names, provinces, p, b, start, stop) for p, b, start, stop in tasks]
        for point, block, values, seconds in executor.map_unordered(sweep_task, work):
            writer.write(point, block, values)
            n = values["coverage"].shape[1] * runs_per_replicate
            runs += n
            cpu += seconds
            if on_block is not None:
                on_block(n)
        sweep_store.finalize(path)
        return SweepReport(path, design.size, total_blocks, len(tasks), runs,
                           time.perf_counter() - began, cpu)


@dataclass
class SweepPlan:
    """What a sweep will do, and a guess at its size and time from one short timed block."""

    runs: int
    tasks: int
    block: int                # replicates per task
    nbytes: int               # the cube's data variables in memory, uncompressed
    ratio: float              # compressed / raw size, measured on the timed block
    seconds_per_run: float
    timed_runs: int
    workers: int

    @property
    def seconds(self) -> float:
        """Estimated wall time of the whole sweep on ``workers``."""
        return self.runs * self.seconds_per_run / self.workers


def plan_sweep(config: RolloutConfig, provinces: Provinces, design: Design,
               workers: int) -> SweepPlan:
    """Count the sweep's runs and tasks, and time a block of up to two replicates of every
    strategy at the first design point to estimate its time and its size on disk."""
    block = block_size(config)
    n_strategies = len(config.strategies)
    blocks = n_blocks(config.replicates, block)
    runs = design.size * config.replicates * n_strategies
    size = estimate_bytes(config, provinces, design)
    probe_reps = min(2, config.replicates)
    first = point_config(config, design.points[0])
    timing = run_block(first.canonical_json(), strategy_names(config), provinces, first.seed, 0,
                       probe_reps)
    per_run = timing.seconds / (probe_reps * n_strategies)
    ratio = compressed_ratio(block_values(timing.series, timing.summary,
                                          volume_share(provinces)))
    return SweepPlan(runs, design.size * blocks, block, size, ratio, per_run,
                     probe_reps * n_strategies, workers)


def estimate_bytes(config: RolloutConfig, provinces: Provinces, design: Design) -> int:
    """Bytes of the cube's data variables, uncompressed."""
    ds = sweep_store.template(config, provinces, design)
    return int(sum(var.nbytes for var in ds.data_vars.values()))


def compressed_ratio(values: dict[str, np.ndarray]) -> float:
    """Compressed / raw size of a block's arrays under the store's codec (Blosc LZ4, shuffle),
    to turn the cube's raw size into an estimate on disk."""
    from numcodecs import Blosc

    codec = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
    raw = sum(np.ascontiguousarray(v).nbytes for v in values.values())
    packed = sum(len(codec.encode(np.ascontiguousarray(v))) for v in values.values())
    return packed / raw if raw else 1.0


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
