"""Replicates where they decide: which undecided points a second sweep stage refines, and the
decisions once its replicates are added.

A point whose interval holds the line (decided.py: undecided) may be decided by more replicates;
a decided point needs none. So the second stage spends its budget only on undecided points, in
the order of the design (not by how close they look to deciding, which would select on noise),
each getting the same number of added replicates: replicates R .. R+K-1, the same worlds at every
point. After it, a refined point's claim is evaluated on all R + K replicates, exactly as the
first stage's points are (compare.py, then decided.claim_decision).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .compare import design_dims
from .decided import UNDECIDED, Counts, claim_decision, point_estimate
from .discover import metrics_for


def select_undecided(decision: np.ndarray, budget: int, added: int) -> tuple[int, ...]:
    """Flattened indices of the undecided points a budget of ``budget`` added replicates (per
    strategy) covers at ``added`` each: the first ``budget // added`` in design order."""
    undecided = np.flatnonzero(np.asarray(decision) == UNDECIDED)
    return tuple(int(i) for i in undecided[: budget // max(added, 1)])


def merged_cube(cube: xr.Dataset, design_index: np.ndarray, variables: dict[str, np.ndarray],
                strategies: list[str], needed: tuple[str, ...]) -> xr.Dataset:
    """The refined points as a cube of dims (point, strategy, replicate): the first stage's R
    replicates followed by the second stage's K, for the ``needed`` variables."""
    dims = design_dims(cube)
    data = {}
    for name in needed:
        first = np.asarray(cube[name].transpose(*dims, "strategy", "replicate").values, float)
        first = first.reshape(-1, first.shape[-2], first.shape[-1])[design_index]
        data[name] = (("point", "strategy", "replicate"),
                      np.concatenate([first, np.asarray(variables[name], float)], axis=2))
    reps = next(iter(data.values()))[1].shape[2]
    return xr.Dataset(data, coords={"point": np.arange(len(design_index)),
                                    "strategy": strategies, "replicate": np.arange(reps)},
                      attrs={"design": json.dumps({"kind": "refined", "dims": ["point"]}),
                             "config": cube.attrs.get("config", "{}")})


def refined_decisions(cube: xr.Dataset, decision: np.ndarray, point: np.ndarray,
                      design_index: np.ndarray, variables: dict[str, np.ndarray],
                      strategies: list[str], strategy: str, claim: str, baseline: str,
                      confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Every point's decision and point estimate, the refined points' from all their
    replicates."""
    from .compare import compare

    decision = np.asarray(decision).copy()
    point = np.asarray(point).copy()
    if len(design_index) == 0:
        return decision, point
    merged = merged_cube(cube, design_index, variables, strategies,
                         tuple(m for m in metrics_for(claim, cube) if m in variables))
    result = compare(merged, baseline, [m for m in metrics_for(claim, cube) if m in merged],
                     confidence)
    decision[design_index] = claim_decision(result, strategy, claim, ["point"])
    point[design_index] = point_estimate(result, strategy, claim, ["point"])
    return decision, point


def format_refinement(before: Counts, after: Counts | None, refined: int, added: int,
                      left: int, confidence: float) -> str:
    lines = [f"first stage: {before.describe(confidence)}"]
    if after is None:
        lines.append("nothing to refine: no point is undecided")
        return "\n".join(lines)
    lines.append(f"second stage: {added} more replicates (the same worlds at every point) at "
                 f"{refined} undecided point{'s' * (refined != 1)}"
                 + (f"; {left} undecided point{'s' * (left != 1)} left out by the budget"
                    if left else ""))
    lines.append(f"after both: {after.describe(confidence)}")
    return "\n".join(lines)


def apply_stage(cube: xr.Dataset, data, stage_path: str, strategy: str, claim: str,
                baseline: str):
    """``data`` (discover.ClaimData of ``cube``) with the refined points of the second stage at
    ``stage_path`` decided on all their replicates (and, for ``outcome="significant"``, PRIM's
    input with them). The stage must be of this cube (its config hash), claim, strategy and
    baseline."""
    from dataclasses import replace

    from ..errors import RolloutError
    from ..experiment.refine import read_stage

    manifest, index, variables, names = read_stage(stage_path)
    want = {"config_sha256": cube.attrs.get("config_sha256"), "strategy": strategy,
            "claim": claim, "baseline": baseline}
    for key, value in want.items():
        if manifest.get(key) != value:
            raise RolloutError(f"{stage_path}: a second stage of another {key.split('_')[0]} "
                               f"({manifest.get(key)!r}, not {value!r})")
    if data.decision is None:
        raise RolloutError(f"claim {claim!r}: has no interval to decide")
    decision, point = refined_decisions(cube, data.decision, data.point, index, variables,
                                        names, strategy, claim, baseline, data.confidence)
    if data.outcome == "significant":
        y = (decision == 1).astype(int)
    else:                                   # the claim as defined, on all replicates
        y = np.asarray(data.y).copy()
        y[index] = defined_outcome(cube, index, variables, names, strategy, claim, baseline,
                                   data.confidence)
    return replace(data, y=y, decision=decision, point=point)


def defined_outcome(cube: xr.Dataset, index: np.ndarray, variables: dict[str, np.ndarray],
                    strategies: list[str], strategy: str, claim: str, baseline: str,
                    confidence: float) -> np.ndarray:
    """The claim as defined (discover.claim_outcome) at the refined points, on all their
    replicates."""
    from .compare import compare
    from .discover import claim_outcome

    needed = tuple(m for m in metrics_for(claim, cube) if m in variables)
    result = compare(merged_cube(cube, index, variables, strategies, needed), baseline,
                     list(needed), confidence)
    return claim_outcome(result, strategy, claim, ["point"])


__all__ = ["apply_stage", "defined_outcome", "format_refinement", "merged_cube",
           "refined_decisions", "select_undecided"]
