"""Padding as its own layer: a copy into a larger buffer whose border holds a constant.

  x   (C, H, W)             dx  (C, H, W)
  xp  (C, H+2p, W+2p)       dxp (C, H+2p, W+2p)

The conv kernels then see a "valid" problem; the 1989 zip-code net pads with -1
(background), LeNet-1 with 0.
"""

from ..jit_cache import njit
from .simd import LANES, vload_n, vstore_n


@njit(cache=True)
def pad_forward(x, pad, value, xp):
    """xp (C, H+2p, W+2p) = x (C, H, W) surrounded by `pad` rows/columns of `value`."""
    C, H, W = x.shape
    xp[:] = value
    if x.flags.c_contiguous and xp.flags.c_contiguous:  # rows as (masked) vector copies
        Hp, Wp = H + 2 * pad, W + 2 * pad
        for c in range(C):
            for r in range(H):
                for q0 in range(0, W, LANES):
                    n = min(LANES, W - q0)
                    vstore_n(xp, (c * Hp + r + pad) * Wp + pad + q0, vload_n(x, (c * H + r) * W + q0, n), n)
        return
    for c in range(C):
        for r in range(H):
            for q in range(W):
                xp[c, r + pad, q + pad] = x[c, r, q]


@njit(cache=True)
def pad_backward(dxp, pad, dx):
    """The border is a constant, so only the interior gradient flows back."""
    C, H, W = dx.shape
    if dx.flags.c_contiguous and dxp.flags.c_contiguous:  # rows as (masked) vector copies
        Hp, Wp = H + 2 * pad, W + 2 * pad
        for c in range(C):
            for r in range(H):
                for q0 in range(0, W, LANES):
                    n = min(LANES, W - q0)
                    vstore_n(dx, (c * H + r) * W + q0, vload_n(dxp, (c * Hp + r + pad) * Wp + pad + q0, n), n)
        return
    for c in range(C):
        for r in range(H):
            for q in range(W):
                dx[c, r, q] = dxp[c, r + pad, q + pad]
