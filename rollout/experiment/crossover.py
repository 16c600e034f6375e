"""When a strategy's cumulative national net benefit overtakes the baseline's for good.

Shared by the cube's writer (``t_overtake`` stored at write time) and the analysis (computed from
an older cube's own harm and benefit series), so both give the same number from the same
arithmetic. Only numpy: the light side of the package may import it.

On the sampling grid t_1 < ... < t_G (t_G the horizon) let D(t_k) be the strategy's cumulative
national net benefit minus the baseline's in the same replicate (exact integrals at grid
points; D(0) = 0). ``t_overtake`` is the first grid time from which D stays >= 0 at every later
grid time: 0 if D is never below 0, +inf if D(t_G) < 0, else t_{k+1} for the last k with
D(t_k) < 0. "Below" means below -``TOLERANCE`` benefit units, so two designs that act alike are
not told apart by float rounding.
"""

from __future__ import annotations

import numpy as np

#: benefit units: a difference closer to 0 than this is not "below" (1e-9 of a month of the
#: nation's full benefit; rounding of sums of about 1e3 terms of order 1 is far smaller)
TOLERANCE = 1e-9


def national_net(benefit: np.ndarray, harm: np.ndarray) -> np.ndarray:
    """Cumulative national net benefit, summing the last (province) axis."""
    return (np.asarray(benefit, float) - np.asarray(harm, float)).sum(axis=-1)


def crossover_times(diff: np.ndarray, months: np.ndarray,
                    tolerance: float = TOLERANCE) -> np.ndarray:
    """t_overtake of each series of differences D along the last axis (grid ``months``)."""
    diff = np.asarray(diff, float)
    months = np.asarray(months, float)
    below = diff < -tolerance
    g = diff.shape[-1]
    last = g - 1 - np.argmax(below[..., ::-1], axis=-1)      # last grid index below 0
    after = months[np.minimum(last + 1, g - 1)]
    out = np.where(last == g - 1, np.inf, after)
    return np.where(below.any(axis=-1), out, 0.0)


def overtake_from_series(benefit: np.ndarray, harm: np.ndarray, months: np.ndarray,
                         baseline: int) -> np.ndarray:
    """(strategy, replicate, ...) t_overtake against strategy index ``baseline`` from series
    shaped (strategy, replicate, ..., time, province)."""
    net = national_net(benefit, harm)
    return crossover_times(net - net[baseline:baseline + 1], months)
