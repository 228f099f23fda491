"""Conv layers with small output maps (rows of 4 to 8, stride 1 or 2: the second layers,
and the zip-code net's first), on 16-lane vectors (kernels/simd.py). Shapes and
arithmetic as in kernels/conv.py, whose plain loops compute the same sums; conv.py
decides which path runs. Scratch lives on the stack: nothing is heap-allocated per sample.

Forward: gather each tap's inputs for all output positions into a row of cols (im2col),
then 16 positions per vector, four output maps at a time. The backward pass is in
kernels/conv_small_backward.py.
"""

import numpy as np
from numba import carray

from ..jit_cache import njit
from .conv_shapes import conv_shapes, same_inputs
from .simd import LANES, stack_ptr, vgather_n, vload, vload_even_n, vload_n, vsplat, vstore, vstore_n
from .simd_tile import vload_tile4

# Stack scratch, in elements
SCRATCH = 8192
MAX_P = 1024  # output positions per map
OFFS_LEN = MAX_P + LANES


@njit(cache=True, inline="always")
def forward_fits(C_in, K, H_out, W_out):
    """True when conv2d_forward_small's scratch holds the layer."""
    P = H_out * W_out
    PP = (P + LANES - 1) // LANES * LANES
    return K == 5 and C_in * K * K * PP <= SCRATCH and P <= MAX_P


@njit(cache=True)
def conv2d_forward_small(x, w, b, conn, stride, bias_per_unit, y):
    """y (C_out, H_out, W_out) from x (C_in, Hp, Wp), all C-contiguous; forward_fits.
    Compiled for 5x5 kernels (every network here): constant tap loops, unrolled."""
    C_out, n_conn, K, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, w, y)
    KK = K * K
    PP = (P + LANES - 1) // LANES * LANES
    # a last incomplete block of four maps repeats map C_out - 1
    cols = carray(stack_ptr(SCRATCH, x.dtype), (SCRATCH,))
    offs = carray(stack_ptr(OFFS_LEN, np.int32), (OFFS_LEN,))
    _window_offsets(H_out, W_out, stride, Wp, offs)
    _im2col(x, K, stride, H_out, W_out, offs, PP, cols)
    _maps_from_cols(w, b, conn, bias_per_unit, y, cols, PP, 5)


@njit(cache=True, inline="always")
def _maps_from_cols(w, b, conn, bias_per_unit, y, cols, PP, K):
    """y from im2col's cols, four output maps and 16 positions at a time."""
    C_out, n_conn = w.shape[0], w.shape[1]
    P = y.shape[1] * y.shape[2]
    KK = K * K
    for o0 in range(0, C_out, 4):
        o1 = min(o0 + 1, C_out - 1)
        o2 = min(o0 + 2, C_out - 1)
        o3 = min(o0 + 3, C_out - 1)
        # four maps reading the same inputs (a full table, or one input map) share each
        # cols load: a load and four products per tap instead of four of each
        shared = o0 + 4 <= C_out and same_inputs(conn, o0, 4)
        for p0 in range(0, P, LANES):
            n = min(LANES, P - p0)
            if bias_per_unit:
                a0 = vload_n(b, o0 * P + p0, n)
                a1 = vload_n(b, o1 * P + p0, n)
                a2 = vload_n(b, o2 * P + p0, n)
                a3 = vload_n(b, o3 * P + p0, n)
            else:
                a0 = vsplat(b[o0])
                a1 = vsplat(b[o1])
                a2 = vsplat(b[o2])
                a3 = vsplat(b[o3])
            for j in range(n_conn):
                r0 = conn[o0, j] * KK * PP + p0
                r1 = conn[o1, j] * KK * PP + p0
                r2 = conn[o2, j] * KK * PP + p0
                r3 = conn[o3, j] * KK * PP + p0
                if shared:
                    for ky in range(K):
                        for kx in range(K):
                            v = vload(cols, r0 + (ky * K + kx) * PP)
                            a0 = a0 + w[o0, j, ky, kx] * v
                            a1 = a1 + w[o1, j, ky, kx] * v
                            a2 = a2 + w[o2, j, ky, kx] * v
                            a3 = a3 + w[o3, j, ky, kx] * v
                else:
                    for ky in range(K):
                        for kx in range(K):
                            t = (ky * K + kx) * PP
                            a0 = a0 + w[o0, j, ky, kx] * vload(cols, r0 + t)
                            a1 = a1 + w[o1, j, ky, kx] * vload(cols, r1 + t)
                            a2 = a2 + w[o2, j, ky, kx] * vload(cols, r2 + t)
                            a3 = a3 + w[o3, j, ky, kx] * vload(cols, r3 + t)
            vstore_n(y, o0 * P + p0, a0, n)
            vstore_n(y, o1 * P + p0, a1, n)
            vstore_n(y, o2 * P + p0, a2, n)
            vstore_n(y, o3 * P + p0, a3, n)


@njit(cache=True, inline="always")
def _window_offsets(H_out, W_out, stride, Wp, offs):
    """offs[p] = where output position p = oy*W_out + ox reads (its window's corner) in an
    input map of width Wp; LANES zeros follow, so a gather may read a whole vector of them."""
    for oy in range(H_out):
        for ox in range(W_out):
            offs[oy * W_out + ox] = oy * stride * Wp + ox * stride
    for p in range(H_out * W_out, H_out * W_out + LANES):
        offs[p] = 0


@njit(cache=True, inline="always")
def _im2col(x, K, stride, H_out, W_out, offs, PP, cols):
    """cols[((i*K + ky)*K + kx)*PP + p] = x[i, oy*s + ky, ox*s + kx]; lanes P..PP are 0."""
    C, Hp, Wp = x.shape
    P = H_out * W_out
    if H_out == 4 and W_out == 4:
        # one 4x4 tile per row of cols (kernels/simd_tile.py)
        for i in range(C):
            for ky in range(K):
                for kx in range(K):
                    row = ((i * K + ky) * K + kx) * PP
                    if stride == 1:
                        vstore(cols, row, vload_tile4(x, (i * Hp + ky) * Wp + kx, Wp, 1))
                    else:
                        vstore(cols, row, vload_tile4(x, (i * Hp + ky) * Wp + kx, 2 * Wp, 2))
        return
    if stride == 1 and P == PP and W_out <= LANES:
        # each output row reads a contiguous input row segment: a masked copy per row is
        # cheaper than a 16-lane gather (~13 cycles each here)
        for i in range(C):
            for ky in range(K):
                for kx in range(K):
                    row = ((i * K + ky) * K + kx) * PP
                    for oy in range(H_out):
                        vstore_n(cols, row + oy * W_out, vload_n(x, (i * Hp + oy + ky) * Wp + kx, W_out), W_out)
        return
    if stride == 2 and P == PP and W_out <= LANES // 2:
        # the same with every other input value: a masked load and a shuffle per row
        for i in range(C):
            for ky in range(K):
                for kx in range(K):
                    row = ((i * K + ky) * K + kx) * PP
                    for oy in range(H_out):
                        vstore_n(cols, row + oy * W_out, vload_even_n(x, (i * Hp + 2 * oy + ky) * Wp + kx, W_out),
                                 W_out)
        return
    for i in range(C):
        for ky in range(K):
            for kx in range(K):
                row = ((i * K + ky) * K + kx) * PP
                base = (i * Hp + ky) * Wp + kx
                for p0 in range(0, P, LANES):
                    vstore(cols, row + p0, vgather_n(x, base, offs, p0, min(LANES, P - p0)))
