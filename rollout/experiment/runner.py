"""Running experiments: replicates in blocks, serially or on Dask workers (executors.py).

A run of one replicate builds that replicate's world once and runs every strategy in it (common
random numbers). Blocks of replicates are independent tasks; their results are placed by
replicate index, so the assembled arrays do not depend on how many workers ran them or in which
order they finished.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..config import RolloutConfig, validate_dict
from ..data import Provinces
from ..model.core import gc_paused
from ..model.simulation import RunResult, Simulation, mechanism_series
from ..model.world import build_world
from ..strategies.controller import run_strategy
from .inputs import default_workers, load_run  # noqa: F401  (re-exported)

SUMMARY_FIELDS = ("t_full", "t_stable", "harm_total", "benefit_total", "net_benefit",
                  "suspensions", "defects_detected", "defects_fixed", "defects_remaining",
                  "releases", "end_harm_rate", "end_benefit_rate")
#: per-run arrays besides the scalars: t_stable at each outcomes.stable_harm_shares
ARRAY_SUMMARY_FIELDS = {"t_stable_at": "stable_at"}
SERIES_FIELDS = ("stage", "coverage", "harm", "benefit", "defects_active", "version",
                 "known_defects", "fixed_defects")
#: grid series the mechanisms add (RunResult.extra; simulation.mechanism_series)
MECHANISM_FIELDS = tuple(mechanism_series())


def run_replicate(config: RolloutConfig, provinces: Provinces, seed: int, replicate: int,
                  record_events: bool = False) -> dict[str, RunResult]:
    """Every strategy of ``config`` in the world of one replicate."""
    with gc_paused():
        world = build_world(config, provinces, seed, replicate)
        return {name: Simulation(config, world, strategy, record_events).run(run_strategy)
                for name, strategy in config.strategies.items()}


def strategy_names(config: RolloutConfig) -> list[str]:
    """Strategies in the order the config lists them (the cube's order)."""
    return list(config.strategies)


@dataclass
class BlockResult:
    """Results of replicates [start, stop) for every strategy, stacked as arrays."""

    start: int
    stop: int
    series: dict[str, np.ndarray]     # name -> (strategy, replicate, time, ...)
    summary: dict[str, np.ndarray]    # name -> (strategy, replicate)
    events: list[tuple]               # (strategy index, replicate, *event row)
    n_events: int                     # SimPy events scheduled
    seconds: float


def run_block(config_json: str, names: list[str], provinces: Provinces, seed: int, start: int,
              stop: int, record_events: bool = False) -> BlockResult:
    """Run replicates [start, stop); the unit of work sent to a worker. The canonical JSON sorts
    keys, so the strategy order travels separately as ``names``."""
    import json

    config = validate_dict(json.loads(config_json))
    began = time.perf_counter()
    per_rep = [run_replicate(config, provinces, seed, r, record_events)
               for r in range(start, stop)]
    series = {f: np.stack([np.stack([getattr(rep[n], f) for rep in per_rep]) for n in names])
              for f in SERIES_FIELDS}
    series.update({f: np.stack([np.stack([rep[n].extra[f] for rep in per_rep]) for n in names])
                   for f in MECHANISM_FIELDS})
    summary = {f: np.array([[rep[n].summary[f] for rep in per_rep] for n in names], float)
               for f in SUMMARY_FIELDS}
    summary.update({f: np.array([[getattr(rep[n], attr) for rep in per_rep] for n in names],
                                float) for f, attr in ARRAY_SUMMARY_FIELDS.items()})
    events = [(s, start + i, *row) for s, n in enumerate(names)
              for i, rep in enumerate(per_rep) for row in rep[n].events]
    n_events = sum(rep[n].n_events for rep in per_rep for n in names)
    return BlockResult(start, stop, series, summary, events, n_events,
                       time.perf_counter() - began)


def plan_blocks(replicates: int, workers: int, block_size: int | None = None) -> list[range]:
    """Split replicates into blocks: several per worker so the load balances."""
    if block_size is None:
        block_size = max(1, math.ceil(replicates / max(1, workers * 4)))
    return [range(i, min(i + block_size, replicates)) for i in range(0, replicates, block_size)]


def iter_blocks(config: RolloutConfig, provinces: Provinces, blocks: list[range], executor,
                record_events: bool = False) -> Iterator[BlockResult]:
    """Yield block results as they finish (in any order) from an executor (executors.py)."""
    config_json = config.canonical_json()
    names = strategy_names(config)
    tasks = [(config_json, names, provinces, config.seed, b.start, b.stop, record_events)
             for b in blocks]
    yield from executor.map_unordered(run_block, tasks)


@dataclass
class ExperimentResult:
    """All replicates of a config run, assembled in replicate order."""

    series: dict[str, np.ndarray]
    summary: dict[str, np.ndarray]
    events: list[tuple]
    n_events: int
    cpu_seconds: float


def run_experiment(config: RolloutConfig, provinces: Provinces, workers: int = 1,
                   on_block: Callable[[BlockResult], None] | None = None,
                   executor=None) -> ExperimentResult:
    """Run ``config.replicates`` replicates of every strategy, serially for one worker, on a
    local Dask cluster for more, or on a given executor."""
    from .executors import DaskExecutor, SerialExecutor

    n = config.replicates
    if executor is None:
        executor = SerialExecutor() if workers <= 1 else DaskExecutor(workers=workers)
        owned = True
    else:
        owned = False
    blocks = plan_blocks(n, executor.workers)
    parts: list[BlockResult] = []
    try:
        for block in iter_blocks(config, provinces, blocks, executor, config.output.event_log):
            parts.append(block)
            if on_block is not None:
                on_block(block)
    finally:
        if owned:
            executor.__exit__(None, None, None)
    parts.sort(key=lambda b: b.start)
    series = {f: np.concatenate([b.series[f] for b in parts], axis=1)
              for f in SERIES_FIELDS + MECHANISM_FIELDS}
    summary = {f: np.concatenate([b.summary[f] for b in parts], axis=1)
               for f in (*SUMMARY_FIELDS, *ARRAY_SUMMARY_FIELDS)}
    events = [row for b in parts for row in b.events]
    return ExperimentResult(series, summary, events, sum(b.n_events for b in parts),
                            sum(b.seconds for b in parts))
