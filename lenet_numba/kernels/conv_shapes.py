"""The sizes of one conv layer's problem, read off its arrays (the convention of kernels/conv.py),
which output maps share their inputs, and whether the arrays are float32.

  x       (C_in, Hp, Wp)          input, already padded
  w       (C_out, n_conn, K, K)
  y, dy   (C_out, H_out, W_out)
"""

import numpy as np
from numba import types
from numba.extending import overload

from ..jit_cache import njit


@njit(cache=True, inline="always")
def conv_shapes(x, w, y):
    """(C_out, n_conn, K, C_in, Hp, Wp, H_out, W_out, P = H_out * W_out); y may be dy."""
    C_out, n_conn, K, _ = w.shape
    C_in, Hp, Wp = x.shape
    _, H_out, W_out = y.shape
    return C_out, n_conn, K, C_in, Hp, Wp, H_out, W_out, H_out * W_out


@njit(cache=True, inline="always")
def same_inputs(conn, o, m):
    """True when output maps o..o+m-1 read the same input map for every connection j."""
    for k in range(1, m):
        for j in range(conn.shape[1]):
            if conn[o + k, j] != conn[o, j]:
                return False
    return True


def is_float32(a):
    """True when the array a holds float32: a constant of a's type inside compiled code, so
    the branch not taken is removed at compile time (an array's itemsize is a run-time
    value there)."""
    return a.dtype == np.float32


@overload(is_float32, inline="always")
def _is_float32_compiled(a):
    answer = isinstance(a, types.Array) and a.dtype == types.float32
    return lambda a: answer
