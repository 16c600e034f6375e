"""The recorder's vectorised reading of change logs: the harm formula gives exactly what the
formula it replaced gave, for any number of time constants (numpy's sum over a last axis is
sequential below 8 entries and pairwise from 8), and malformed logs are refused, not misread."""

import numpy as np
import pytest

from rollout.model.exploitation import pending_harm
from rollout.model.recorder import as_codes, step_series, table


def _reference(at, t0, cum0, a, b_last, taus):
    """The formula of pending_harm before the speed-up (b with its time constants last)."""
    x = at[:, None] - t0
    keep = np.exp(-x[..., None] / taus)
    cum = cum0 + a * x + (b_last * (taus * (1.0 - keep))).sum(axis=-1)
    rate = a + (b_last * keep).sum(axis=-1)
    return cum, rate


@pytest.mark.parametrize("n_taus", range(0, 11))
def test_pending_harm_is_bit_identical_to_the_formula_it_replaced(n_taus):
    rng = np.random.default_rng(20261203 + n_taus)
    grid = np.arange(1.0, 121.0)
    n = 300
    t0 = rng.uniform(0.0, 120.0, (120, n))
    cum0 = rng.exponential(1.0, (120, n))
    a = rng.exponential(0.01, (120, n))
    b = rng.normal(0.0, 0.01, (120, n, n_taus)) * 10.0 ** rng.uniform(-6, 1, (120, n, n_taus))
    taus = np.sort(rng.uniform(1.0, 48.0, n_taus))
    want_cum, want_rate = _reference(grid, t0, cum0, a, b, taus)
    cum, rate = pending_harm(grid, t0, cum0, a, np.moveaxis(b, -1, 0), taus)
    assert np.array_equal(cum, want_cum)
    assert np.array_equal(rate, want_rate)


def test_table_refuses_rows_of_the_wrong_width():
    assert table([(1.0, 0, 2.0), (2.0, 1, 3.0)], (0.0, 0.0, 0.0)).shape == (3, 3)
    for rows in ([(1.0, 0, 2.0, 9.0), (2.0, 1, 3.0, 9.0)], [(1.0, 0)]):
        with pytest.raises(ValueError, match="3 fields"):
            table(rows, (0.0, 0.0, 0.0))


def test_integer_series_refuse_values_their_dtype_cannot_hold():
    grid = np.array([1.0, 2.0])
    got = step_series([(0.5, 0, 7), (1.5, 1, 32767)], grid, 2, 0, np.int16)
    assert got.dtype == np.int16 and got.tolist() == [[7, 0], [7, 32767]]
    with pytest.raises(OverflowError):
        step_series([(0.5, 0, 40000)], grid, 1, 0, np.int16)
    with pytest.raises(OverflowError):
        as_codes(np.array([-1.0, 128.0]), np.int8)
