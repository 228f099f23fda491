"""tanh64 (kernels/elementary.py), the vectorizable tanh of the activation kernels,
against np.tanh: a few ulp in float64, 1 ulp after rounding to float32, and the specials."""

import numpy as np
from numba import njit

from lenet_numba.kernels.elementary import tanh64


@njit(cache=True)
def _apply(x, out):
    for k in range(x.shape[0]):
        out[k] = tanh64(x[k])


def tanh_all(x):
    x = np.ascontiguousarray(x, np.float64)
    out = np.empty_like(x)
    _apply(x, out)
    return out


def ulps(got, want):
    """|got - want| in units in the last place of want, in want's own dtype."""
    return np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.spacing(np.abs(want)).astype(np.float64)


def test_float64_within_3_ulp_over_every_scale():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(200_000) * s for s in (1e-12, 1e-4, 0.05, 0.5, 1, 3, 8, 25)])
    assert ulps(tanh_all(x), np.tanh(x)).max() <= 3


def test_float32_rounded_within_1_ulp_of_numpy_float32():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(200_000) * s for s in (1e-6, 0.1, 1, 4, 12)]).astype(np.float32)
    got = tanh_all(x.astype(np.float64)).astype(np.float32)
    assert ulps(got, np.tanh(x)).max() <= 1


def test_odd_and_monotone():
    x = np.linspace(0, 25, 100_001)
    y = tanh_all(x)
    np.testing.assert_array_equal(tanh_all(-x), -y)
    assert np.all(np.diff(y) >= 0)
    assert y[-1] == 1.0


def test_specials():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310, 19.0, 20.0, 40.0, 710.0, -1e308])
    y = tanh_all(x)
    np.testing.assert_array_equal(y[[0, 2, 3, 8, 9, 10, 11, 12]], np.tanh(x[[0, 2, 3, 8, 9, 10, 11, 12]]))
    assert np.signbit(y[1]) and y[1] == 0.0
    assert np.isnan(y[4])
    np.testing.assert_allclose(y[5:8], x[5:8], rtol=0, atol=0)  # tanh(x) = x for subnormals
