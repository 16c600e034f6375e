"""When coverage became stable, at several harm thresholds at once (docs/model.md section 6).

``t_stable`` is the first time from which coverage stays at or above its threshold (exact: the
last time it rose to it) and the national harm rate stays at or below a share of the benefit
rate to the horizon (checked on the sampling grid). The harm condition differs between
thresholds only through the share, so every threshold is one comparison of the same two grid
series: the whole curve costs one vectorised pass, and the threshold of ``t_stable`` is one
column of it (the same arithmetic, so the same number).
"""

from __future__ import annotations

import math

import numpy as np


def stable_times(grid: np.ndarray, harm_rate: np.ndarray, benefit_rate: np.ndarray,
                 t_rise: float, shares) -> np.ndarray:
    """t_stable for each share (NaN where never: coverage below its threshold at the horizon,
    the harm condition failing at the horizon, or no benefit at the horizon)."""
    shares = np.atleast_1d(np.asarray(shares, float))
    out = np.full(shares.shape, math.nan)
    if math.isnan(t_rise) or benefit_rate[-1] <= 0.0:
        return out
    # before anyone pays, harm and benefit rates are both 0: that meets the condition
    ok = harm_rate[None, :] <= shares[:, None] * benefit_rate[None, :]
    for i in np.flatnonzero(ok[:, -1]):
        bad = np.flatnonzero(~ok[i])
        t_harm = float(grid[bad[-1] + 1]) if bad.size else 0.0
        out[i] = max(t_rise, t_harm)
    return out
