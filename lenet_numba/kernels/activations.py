"""Activations, applied in place: y = f(a) overwrites a; the backward uses y only.

  IDENTITY     f(a) = a                       f' = 1
  TANH         f(a) = tanh(a)                 f' = 1 - y^2
  SCALED_TANH  f(a) = A tanh(S a), A = 1.7159, S = 2/3 (LeCun 1989/1998)
                                              f' = A S (1 - (y/A)^2) = (S/A) (A^2 - y^2)
Expressing f' through y lets the backward run without storing pre-activations.

TANH_FAST and SCALED_TANH_FAST are the same functions under the ``fast`` numerics policy
(numerics.py): elementary.tanh_fast (within 4e-7 of tanh) in the array's own type, where
the exact scaled tanh computes in float64 as the scalar code did. Their backward is the
exact one's formula: f' of tanh at the approximate y, off by at most ~1e-6.
"""

from ..jit_cache import njit
from .elementary import tanh, tanh64, tanh_fast

IDENTITY = 0
TANH = 1
SCALED_TANH = 2
TANH_FAST = 3
SCALED_TANH_FAST = 4
NAMES = {"identity": IDENTITY, "tanh": TANH, "scaled-tanh": SCALED_TANH}
FAST = {IDENTITY: IDENTITY, TANH: TANH_FAST, SCALED_TANH: SCALED_TANH_FAST}  # exact code -> fast code

SCALED_A = 1.7159
SCALED_S = 2.0 / 3.0


@njit(cache=True)
def activation_forward(kind, a):
    """a <- f(a), in place (a is 1-D).

    kernels/elementary.tanh instead of np.tanh: no libm call, so these loops vectorize
    (float32 20x, float64 7x faster).
    """
    if kind == TANH:
        for k in range(a.shape[0]):
            a[k] = tanh(a[k])
    elif kind == SCALED_TANH:
        for k in range(a.shape[0]):
            a[k] = SCALED_A * tanh64(SCALED_S * a[k])
    elif kind == TANH_FAST:
        for k in range(a.shape[0]):
            a[k] = tanh_fast(a[k])
    elif kind == SCALED_TANH_FAST:
        amplitude, slope = a.dtype.type(SCALED_A), a.dtype.type(SCALED_S)  # stay in a's type
        for k in range(a.shape[0]):
            a[k] = amplitude * tanh_fast(slope * a[k])


@njit(cache=True)
def activation_backward(kind, y, g):
    """g <- g * f'(a), in place, with f'(a) computed from y = f(a)."""
    if kind == TANH or kind == TANH_FAST:
        for k in range(g.shape[0]):
            g[k] *= 1.0 - y[k] * y[k]
    elif kind == SCALED_TANH or kind == SCALED_TANH_FAST:
        c = SCALED_S / SCALED_A
        AA = SCALED_A * SCALED_A
        for k in range(g.shape[0]):
            g[k] *= c * (AA - y[k] * y[k])


# ---- second order (SDLM, diagonal Gauss-Newton) ------------------------------------


@njit(cache=True)
def activation_backward_gn(kind, y, d2):
    """d2 <- d2 * f'(a)^2, in place: d2E/dy^2 at a layer's output -> d2E/da^2.

    The Gauss-Newton recursion (LeCun et al. 1998, App. C) drops the f''(a) dE/dy term,
    so the result stays >= 0. f'(a) is computed from y = f(a) as in activation_backward.
    """
    if kind == TANH or kind == TANH_FAST:
        for k in range(d2.shape[0]):
            d = 1.0 - y[k] * y[k]
            d2[k] *= d * d
    elif kind == SCALED_TANH or kind == SCALED_TANH_FAST:
        c = SCALED_S / SCALED_A
        AA = SCALED_A * SCALED_A
        for k in range(d2.shape[0]):
            d = c * (AA - y[k] * y[k])
            d2[k] *= d * d
