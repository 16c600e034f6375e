"""Running a list of parameter assignments (not a sweep design): blocks of replicates at each
point, on the same executors as a sweep, returning the per-replicate summaries in memory.

Used by the posterior-predictive placement (analysis/predictive.py), whose points are calibration
draws crossed with model structures rather than a design a config can name. Every point runs
replicates 0 .. R-1 of the base config's seed, so common random numbers hold across points as in
a sweep. Nothing is written: the summaries of a few thousand runs are small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import RolloutConfig
from ..data import Provinces
from ..errors import ConfigError
from .designs import block_size, n_blocks, point_config, quote
from .runner import strategy_names
from .sweep import sweep_task


def checked_points(base: RolloutConfig, assignments: list[dict[str, Any]], source: str
                   ) -> list[str]:
    """Every point's config as canonical JSON, validated before any run; a bad value is one
    line naming ``source`` and the parameter."""
    out = []
    for assignment in assignments:
        try:
            out.append(point_config(base, assignment).canonical_json())
        except ConfigError as err:
            path = next((p for p in assignment if err.field and err.field.startswith(p)),
                        err.field)
            raise ConfigError(source, quote(str(path)),
                              f"value {assignment.get(path, '')!r}: {err.problem}") from None
    return out


def run_points(base: RolloutConfig, provinces: Provinces, point_json: list[str], executor,
               variables: tuple[str, ...] = ("t_full", "t_stable", "net_benefit"),
               on_block: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Per variable, a (point, strategy, replicate) array of every point's runs."""
    names = strategy_names(base)
    size = block_size(base)
    reps = base.replicates
    out = {v: np.full((len(point_json), len(names), reps), np.nan) for v in variables}
    work = [(point_json[p], names, provinces, p, b, b * size, min(reps, (b + 1) * size))
            for p in range(len(point_json)) for b in range(n_blocks(reps, size))]
    for point, block, values, _ in executor.map_unordered(sweep_task, work):
        start = block * size
        for v in variables:
            chunk = np.asarray(values[v], float)
            out[v][point, :, start:start + chunk.shape[1]] = chunk
        if on_block is not None:
            on_block(chunk.shape[1] * len(names))
    return out


def placement_base(config: RolloutConfig, strategies: list[str], replicates: int | None = None
                   ) -> RolloutConfig:
    """``config`` without its sweep, running only ``strategies`` (the claim's baseline first,
    then its strategy), with ``replicates`` if given; the baseline is the analysis baseline."""
    import json

    from ..config import validate_dict

    data = json.loads(config.canonical_json())
    data.pop("sweep", None)
    data["strategies"] = {n: data["strategies"][n] for n in config.strategies if n in strategies}
    if replicates is not None:
        data["replicates"] = replicates
    data.setdefault("analysis", {})["baseline"] = strategies[0]
    return validate_dict(data)
