"""Padding as its own layer: a copy into a larger buffer whose border holds a constant.

  x   (C, H, W)             dx  (C, H, W)
  xp  (C, H+2p, W+2p)       dxp (C, H+2p, W+2p)

The conv kernels then see a "valid" problem; the 1989 zip-code net pads with -1
(background), LeNet-1 with 0.
"""

from ..jit_cache import njit
from .simd import LANES, vload_n, vstore_n


@njit(cache=True, inline="always")
def copy_window(src, src_pad, dst, dst_pad, C, H, W):
    """dst[c, dst_pad + r, dst_pad + q] = src[c, src_pad + r, src_pad + q] for a (C, H, W)
    window: into the interior of a padded buffer (src_pad 0) or out of it (dst_pad 0)."""
    if src.flags.c_contiguous and dst.flags.c_contiguous:  # rows as (masked) vector copies
        Hs, Ws = H + 2 * src_pad, W + 2 * src_pad
        Hd, Wd = H + 2 * dst_pad, W + 2 * dst_pad
        for c in range(C):
            for r in range(H):
                for q0 in range(0, W, LANES):
                    n = min(LANES, W - q0)
                    vstore_n(dst, (c * Hd + r + dst_pad) * Wd + dst_pad + q0,
                             vload_n(src, (c * Hs + r + src_pad) * Ws + src_pad + q0, n), n)
        return
    for c in range(C):
        for r in range(H):
            for q in range(W):
                dst[c, r + dst_pad, q + dst_pad] = src[c, r + src_pad, q + src_pad]


@njit(cache=True)
def pad_forward(x, pad, value, xp):
    """xp (C, H+2p, W+2p) = x (C, H, W) surrounded by `pad` rows/columns of `value`."""
    C, H, W = x.shape
    xp[:] = value
    copy_window(x, 0, xp, pad, C, H, W)


@njit(cache=True)
def pad_backward(dxp, pad, dx):
    """The border is a constant, so only the interior gradient flows back."""
    C, H, W = dx.shape
    copy_window(dxp, pad, dx, 0, C, H, W)
