"""The model's quantile functions give exactly what scipy.stats gives (they replaced it on the
hot path: model/quantiles.py), and Python numbers, so the clock never becomes a numpy scalar."""

import numpy as np
import pytest
from scipy import stats

from rollout.model.quantiles import gamma_quantile, gamma_quantiles, poisson_quantile

#: 2,000 uniforms (seed 20261203) plus the ends and values on the Poisson CDF's steps
U = np.concatenate([np.random.default_rng(20261203).random(2000),
                    [1e-300, 1e-12, 0.5, 1.0 - 2.0**-53]])


@pytest.mark.parametrize("shape", [0.3, 1.0, 2.0, 4.0, 16.0])
def test_gamma_quantile_is_scipy_gamma_ppf(shape):
    expected = stats.gamma.ppf(U, a=shape)
    assert np.array_equal(gamma_quantiles(U, shape), expected)
    got = [gamma_quantile(float(u), shape) for u in U[:200]]
    assert all(type(x) is float for x in got)
    assert got == expected[:200].tolist()
    assert gamma_quantile(0.0, shape) == 0.0


@pytest.mark.parametrize("mean", [0.05, 0.5, 1.0, 3.0, 7.5, 40.0])
def test_poisson_quantile_is_scipy_poisson_ppf(mean):
    # include the CDF's own values, where the quantile jumps
    steps = stats.poisson.cdf(np.arange(0, int(mean * 3) + 5), mean)
    u = np.concatenate([U, steps[steps < 1.0]])
    expected = stats.poisson.ppf(u, mean)
    got = [poisson_quantile(float(x), mean) for x in u]
    assert all(type(k) is int for k in got)
    assert got == expected.astype(int).tolist()
    # scipy's ppf(0) is -1 (below the support); a count of -1 or 0 draws no defect either way
    assert poisson_quantile(0.0, mean) == 0
