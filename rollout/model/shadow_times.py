"""Shadow times that differ between units (issue 12; docs/model.md section 5).

Pilots did not all start paying together (2 of 30 DRG pilots by 2021-05): a unit shadows for its
strategy's mean time m times G_u, G_u a Gamma variate with mean 1 and coefficient of variation cv
(shape 1 / cv^2), drawn by inverting the unit's own uniform in the replicate's "shadow" stream.
Inverting one uniform per unit keeps common random numbers: the same unit draws the same
standardised value in every strategy and design, and keeps its rank among units at every cv.
Drawn only when asked for (cv > 0), so cv 0 draws nothing and changes no result.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..streams import stream
from .quantiles import gamma_quantiles


@lru_cache(maxsize=32)
def _factors(seed: int, replicate: int, n_units: int, cv: float) -> np.ndarray:
    uniforms = stream(seed, replicate, "shadow").random(n_units)
    shape = 1.0 / (cv * cv)
    factors = gamma_quantiles(uniforms, shape) / shape
    factors.flags.writeable = False            # cached: shared by every run of the replicate
    return factors


def shadow_factor(world, unit: int, cv: float) -> float:
    """Unit ``unit``'s shadow time as a multiple of its strategy's mean (1 when cv is 0)."""
    if cv <= 0.0:
        return 1.0
    return float(_factors(world.seed, world.replicate, world.n_units, float(cv))[unit])
