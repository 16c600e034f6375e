"""Quantile functions of the model's distributions, for inverting keyed uniforms.

``scipy.stats`` spends about 100 us a call checking and broadcasting its arguments, which the
centre pays at every work period and the world at every release; these call the same special
functions as ``scipy.stats.gamma.ppf`` and ``scipy.stats.poisson.ppf`` do (so they give the same
numbers; tests/test_quantiles.py) and return Python numbers, so the simulation clock stays a
Python float. One deliberate difference: at u = 0 the Poisson quantile is 0, where scipy gives
-1 (below the support); a count of either draws no defect.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special


def gamma_quantile(u: float, shape: float) -> float:
    """Quantile ``u`` of a Gamma(shape, scale 1) (0 at u = 0)."""
    return float(special.gammaincinv(shape, u))


def gamma_quantiles(u: np.ndarray, shape: float) -> np.ndarray:
    """``gamma_quantile`` of every entry of u."""
    return special.gammaincinv(shape, np.asarray(u, dtype=float))


def poisson_quantile(u: float, mean: float) -> int:
    """Smallest k with P(X <= k) >= u for X ~ Poisson(mean) (0 at u = 0)."""
    if u <= 0.0:
        return 0
    k = math.ceil(special.pdtrik(u, mean))
    below = max(k - 1, 0)
    return below if special.pdtr(below, mean) >= u else k
