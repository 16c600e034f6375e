"""A sweep's second stage: more replicates at chosen design points, in a resumable store of
their own.

The first stage (``rollout sweep``) runs replicates 0 .. R-1 at every point. Where a claim is
undecided (analysis/decided.py) more replicates can decide it; this runs replicates R .. R+K-1 at
the chosen points only. Worlds are keyed by the seed and the replicate number, so the added
replicates are the same worlds at every chosen point (common random numbers hold, as in the
first stage), and a point's first R replicates are exactly the first stage's.

The store (Zarr, beside the cube by default) holds the per-replicate summaries (t_full, t_stable,
net_benefit and the other per-run variables) of the added replicates, dims (refined, strategy,
replicate), the first stage's flattened design index of each refined point (``design_index``),
a flag per block written (``flags``), and a manifest naming the first stage's config hash, the
claim, the strategies and the replicates added. Rerunning the same second stage resumes it
(blocks already flagged are skipped); a store of another second stage is refused unless
``overwrite``. It is written by one process at a time (the output lock).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import RolloutConfig
from ..data import Provinces
from ..errors import RolloutError
from .cube import _remove
from .designs import Design, n_blocks, point_config
from .locking import output_lock
from .outputs import _only_zarr_entries
from .runner import strategy_names
from .sweep import sweep_task

#: the store's ``kind`` attribute (what --overwrite may replace)
KIND = "rollout_refinement"


def per_run_variables(config: RolloutConfig) -> dict[str, np.dtype]:
    """Every cube variable with dims (strategy, replicate): what a second stage keeps."""
    from .cube import variable_specs

    return {name: dtype for name, (dims, dtype, _) in variable_specs(config).items()
            if dims == ("strategy", "replicate")}


@dataclass(frozen=True)
class Stage:
    """What a second stage adds: ``added`` replicates from ``first`` at ``points`` (flattened
    first-stage design indices)."""

    points: tuple[int, ...]
    first: int
    added: int
    block: int
    manifest: dict


def _open(path: Path):
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return zarr.open_group(path, mode="r+", zarr_format=2)


def prepare(path: Path, stage: Stage, variables: dict[str, np.dtype], strategies: list[str],
            overwrite: bool) -> np.ndarray:
    """Create the second stage's store, or reopen it to resume; returns its block flags."""
    import zarr

    if path.exists() or path.is_symlink():
        try:
            group = _open(path)
            same = group.attrs.get("kind") == KIND and json.loads(
                group.attrs.get("manifest", "{}")) == stage.manifest
        except Exception:       # noqa: BLE001 - anything unreadable is not ours to resume
            group, same = None, False
        if same:
            return np.asarray(group["flags"][:])
        if not overwrite:
            raise RolloutError(f"{path}: exists and is not this second stage; use --overwrite "
                               "to replace it")
        if group is None or group.attrs.get("kind") != KIND or not path.is_dir() \
                or not _only_zarr_entries(path):
            raise RolloutError(f"{path}: is not a rollout second-stage store; refusing to "
                               "replace it")
        _remove(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.layout-{os.getpid()}")
    _remove(aside)
    n_points = len(stage.points)
    blocks = n_blocks(stage.added, stage.block)
    try:
        group = zarr.open_group(aside, mode="w", zarr_format=2)
        for name, dtype in variables.items():
            group.create_array(name, shape=(n_points, len(strategies), stage.added),
                               chunks=(1, len(strategies), stage.block), dtype="f8",
                               fill_value=np.nan)
            group[name].attrs["stored_dtype"] = str(np.dtype(dtype))
        group.create_array("design_index", shape=(n_points,), dtype="i8")[:] = \
            np.asarray(stage.points, np.int64)
        group.create_array("flags", shape=(n_points, blocks), dtype="u1", fill_value=0)
        group.attrs.update({"kind": KIND, "manifest": json.dumps(stage.manifest),
                            "strategies": json.dumps(strategies), "complete": "false",
                            "first_replicate": stage.first, "added": stage.added})
        os.replace(aside, path)
    except BaseException:
        _remove(aside)
        raise
    return np.zeros((n_points, blocks), np.uint8)


def run_stage(path: Path, config: RolloutConfig, provinces: Provinces, design: Design,
              stage: Stage, executor, variables: dict[str, np.dtype], overwrite: bool = False,
              on_block: Callable[[int], None] | None = None) -> int:
    """Run (or resume) the second stage into ``path``; returns the runs made now."""
    names = strategy_names(config)
    with output_lock(path):
        flags = prepare(path, stage, variables, names, overwrite)
        tasks = [(i, b) for i in range(len(stage.points)) for b in range(flags.shape[1])
                 if not flags[i, b]]
        point_json = {i: point_config(config, design.points[stage.points[i]]).canonical_json()
                      for i in sorted({t[0] for t in tasks})}
        work = [(point_json[i], names, provinces, i, b, stage.first + b * stage.block,
                 stage.first + min(stage.added, (b + 1) * stage.block)) for i, b in tasks]
        group = _open(path)
        runs = 0
        for i, b, values, _ in executor.map_unordered(sweep_task, work):
            start = b * stage.block
            for name in variables:
                chunk = np.asarray(values[name], float)
                group[name][i, :, start:start + chunk.shape[1]] = chunk
            group["flags"][i, b] = 1
            runs += chunk.shape[1] * len(names)
            if on_block is not None:
                on_block(chunk.shape[1] * len(names))
        if not np.asarray(group["flags"][:]).all():
            raise RolloutError(f"{path}: blocks are still missing")
        group.attrs["complete"] = "true"
        return runs


def read_stage(path: str | Path) -> tuple[dict, np.ndarray, dict[str, np.ndarray], list[str]]:
    """(manifest, design indices, variables (refined, strategy, replicate), strategies) of a
    finished second stage."""
    import zarr

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            group = zarr.open_group(path, mode="r", zarr_format=2)
        if group.attrs.get("kind") != KIND:
            raise KeyError("kind")
    except Exception:            # noqa: BLE001 - one line, whatever the storage layer says
        raise RolloutError(f"{path}: not a rollout second-stage store") from None
    if group.attrs.get("complete") != "true":
        raise RolloutError(f"{path}: the second stage is unfinished (run it again to resume)")
    manifest = json.loads(group.attrs["manifest"])
    names = json.loads(group.attrs["strategies"])
    variables = {k: np.asarray(group[k][:]) for k in group.array_keys()
                 if k not in ("design_index", "flags")}
    return manifest, np.asarray(group["design_index"][:]), variables, names
