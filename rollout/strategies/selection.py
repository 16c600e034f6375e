"""Which regions pilot, and in which wave the others start (MODEL.md section 7)."""

from __future__ import annotations

import math

import numpy as np

from ..model.defects import N_CONTEXTS
from ..model.world import World
from ..streams import stream


def select_pilots(world: World, track: int, count: int, max_per_province: int, rule: str,
                  exclude: set[int]) -> np.ndarray:
    """Choose ``count`` pilot regions by ``rule``, at most ``max_per_province`` a province.

    - convenience: highest capacity first (positive selection, as pilots mostly were);
    - random: uniformly at random;
    - representative: round-robin over the contexts, least covered context first, so the pilot
      set spans the contexts where defects show up.
    """
    rng = stream(world.seed, world.replicate, "pilots", track)
    order = rng.permutation(world.n_regions)
    cap = world.region_capacity
    if rule == "convenience":
        order = np.lexsort((np.arange(world.n_regions), -cap))
    room = np.full(len(world.provinces), max_per_province)
    chosen: list[int] = []
    candidates = [r for r in order.tolist() if r not in exclude]
    if rule in ("convenience", "random"):
        for r in candidates:
            if len(chosen) == count:
                break
            p = world.region_province[r]
            if room[p] > 0:
                room[p] -= 1
                chosen.append(r)
    elif rule == "representative":
        ctx = world.region_context
        queues = [[r for r in candidates if ctx[r] == c] for c in range(N_CONTEXTS)]
        picked = np.zeros(N_CONTEXTS, int)
        while len(chosen) < count:
            progress = False
            for c in np.argsort(picked, kind="stable").tolist():
                queue = queues[c]
                while queue and room[world.region_province[queue[0]]] == 0:
                    queue.pop(0)
                if queue:
                    r = queue.pop(0)
                    room[world.region_province[r]] -= 1
                    chosen.append(r)
                    picked[c] += 1
                    progress = True
                    break
            if not progress:
                break
    else:
        raise ValueError(f"unknown selection rule {rule!r}")
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} of {count} pilots fit the per-province cap")
    return np.array(sorted(chosen), dtype=int)


def assign_waves(world: World, regions: np.ndarray, fractions: list[float], order: str,
                 province: int) -> list[np.ndarray]:
    """Split a province's remaining regions into waves: the cumulative share of wave i is at
    least sum(fractions[:i+1]) (rounded up, as in 'at least 40% / 30% / 30%')."""
    if order == "capacity":
        cap = world.region_capacity[regions]
        regions = regions[np.lexsort((regions, -cap))]
    else:
        rng = stream(world.seed, world.replicate, "wave-order", province)
        regions = regions[rng.permutation(len(regions))]
    n = len(regions)
    cuts = [0] + [min(n, math.ceil(round(f * n, 9))) for f in np.cumsum(fractions)]
    cuts[-1] = n
    return [regions[cuts[i]:cuts[i + 1]] for i in range(len(fractions))]
