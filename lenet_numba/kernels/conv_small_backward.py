"""dw and dx of a conv layer with small output maps (rows of 4 to 8, stride 1 or 2: the
second layers, and the zip-code net's first), on 16-lane vectors (kernels/simd.py,
kernels/simd_lanes.py). Shapes as in kernels/conv.py, which decides which path runs.

One input map i at a time, for the readers of i (the (o, j) with conn[o, j] = i):
  win[p]   the K x K window that output position p = (oy, ox) reads, taps t = ky*K + kx
           in lanes, padded to KP = a whole number of vectors (5x5: 25 taps in 32 lanes).
           Built once per map in registers (5x5: half-width row loads placed by constant
           shuffles) and stored whole.
  dw[o,j]  = sum over p, in (oy, ox) order, of dy[o, p] win[p], and
  dwin[p]  = sum over the readers, in order, of dy[o, p] w[o, j] (the gradient of the
           window p reads): four readers per pass over the positions, their 8 dw sums in
           registers, each position's dy broadcast and window load shared by dw and dwin,
           whose partial sum goes through memory from one pass to the next.
  dx[i]    row by row: dx[i, r, c] = sum over ox, then oy, of the rows of dwin that cover
           (r, c), as bitmask loads (a mask is a scalar: no vector compares). 5x5 kernels
           on 4 output rows (the networks' second layers) keep all rows of dx[i] in registers: no
           branch at all.
Every sum starts at +0 and adds its terms in the order of the per-tap kernel this one
replaced; the only other terms are +0 (a masked-off lane), which leave a sum that
started at +0 unchanged. So the blocking changes no result, bit for bit.

Why this shape: per (reader, position) the arithmetic is 4 vector multiplies and 4 adds;
what the blocking removes is everything else — reloading windows, vector mask compares,
data-dependent branches, loads that straddle cache lines. Nothing is heap-allocated:
the scratch lives on the stack.
"""

import numpy as np
from numba import carray

from ..jit_cache import njit
from .conv_shapes import conv_shapes
from .simd import LANES, stack_ptr, vload, vsplat, vstore
from .simd_lanes import vbroadcast, vload_bits, vload_half_bits, vplace, vstore_bits

SCRATCH = 8192  # elements, each of win and dwin
MAX_READERS = 1024  # input maps, and (output map, connection) pairs, of one layer


@njit(cache=True, inline="always")
def backward_fits(C_in, C_out, n_conn, K, H_out, W_out):
    """True when conv2d_backward_small's scratch holds the layer."""
    KP = (K * K + LANES - 1) // LANES * LANES
    return (K == 5 and H_out * W_out * KP + LANES <= SCRATCH and C_in < MAX_READERS
            and C_out * n_conn <= MAX_READERS)


@njit(cache=True)
def conv2d_backward_small(x, w, conn, stride, dy, dx, dw, compute_dx):
    """dw (and dx if compute_dx) from x (C_in, Hp, Wp), w, dy (C_out, H_out, W_out), all
    C-contiguous; backward_fits. Compiled for 5x5 kernels (every network here), whose row
    loops unroll; conv.py sends any other K to the plain loops (one variant to compile: a
    cold start's compile time grows with each)."""
    win = carray(stack_ptr(SCRATCH, x.dtype), (SCRATCH,))
    dwin = carray(stack_ptr(SCRATCH, x.dtype), (SCRATCH,))
    first = carray(stack_ptr(MAX_READERS, np.int64), (MAX_READERS,))
    at_w = carray(stack_ptr(MAX_READERS, np.int64), (MAX_READERS,))
    at_dy = carray(stack_ptr(MAX_READERS, np.int64), (MAX_READERS,))
    _backward(x, w, conn, stride, dy, dx, dw, compute_dx, 5, win, dwin, first, at_w, at_dy)


@njit(cache=True, inline="always")
def _backward(x, w, conn, stride, dy, dx, dw, compute_dx, K, win, dwin, first, at_w, at_dy):
    C_out, n_conn, _, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, w, dy)
    KP = (K * K + LANES - 1) // LANES * LANES
    NV = KP // LANES
    # the (o, j) that read each input map, grouped by map (a counting sort of conn), as
    # where their kernel starts in w and dw and their gradient in dy
    fill = carray(stack_ptr(MAX_READERS, np.int64), (MAX_READERS,))
    for i in range(C_in + 1):
        first[i] = 0
    for o in range(C_out):
        for j in range(n_conn):
            first[conn[o, j] + 1] += 1
    for i in range(C_in):
        first[i + 1] += first[i]
        fill[i] = first[i]
    for o in range(C_out):
        for j in range(n_conn):
            i = conn[o, j]
            at_w[fill[i]] = (o * n_conn + j) * K * K
            at_dy[fill[i]] = o * P
            fill[i] += 1
    # the common 5x5 shapes whose rows of dx fit in registers
    dx_4_rows = (K == 5 and H_out == 4 and Wp <= LANES and W_out * stride + 5 - stride <= LANES
                 and ((stride == 1 and Hp == 8) or (stride == 2 and (Hp == 11 or Hp == 12))))
    for i in range(C_in):
        _windows(x, i, K, NV, KP, stride, H_out, W_out, win)
        r = first[i]
        while r < first[i + 1]:
            _dw_dwin_four_readers(win, w, dy, dw, dwin, at_w, at_dy, r, min(4, first[i + 1] - r), first[i], K, NV, KP,
                                  P, compute_dx)
            r += 4
        if compute_dx:
            if first[i] == first[i + 1]:  # a map no one reads
                for k in range(0, P * KP, LANES):
                    vstore(dwin, k, vsplat(dy.dtype.type(0)))
            if dx_4_rows:
                _dx_rows_5x5_4_rows(dwin, i, stride, W_out, dx)
            else:
                _dx_rows(dwin, i, K, KP, stride, H_out, W_out, dx)


@njit(cache=True, inline="always")
def _tap_bits(K, v):
    """The lanes of vector v of a window that hold taps."""
    return (1 << min(LANES, K * K - v * LANES)) - 1


@njit(cache=True)
def _windows(x, i, K, NV, KP, stride, H_out, W_out, win):
    """win[p*KP + ky*K + kx] = x[i, oy*s + ky, ox*s + kx]; the lanes after the taps 0
    (5x5 windows: the only kernel size conv.py sends here)."""
    K, NV, KP = 5, 2, 32  # the only window size sent here: constants, so loops unroll
    _, Hp, Wp = x.shape
    for oy in range(H_out):
        for ox in range(W_out):
            corner = (i * Hp + oy * stride) * Wp + ox * stride
            v0, v1 = _window5(x, corner, Wp)
            vstore(win, (oy * W_out + ox) * KP, v0)
            vstore(win, (oy * W_out + ox) * KP + LANES, v1)


@njit(cache=True, inline="always")
def _dw_dwin_four_readers(win, w, dy, dw, dwin, at_w, at_dy, r, n, r_begin, K, NV, KP, P, with_dwin):
    """dw of the n <= 4 readers r..r+n-1 of map i (n < 4: the last one repeats, and its
    identical sums are stored again), and their terms of dwin, added to it in reader order
    (the first readers of the map start it from +0), sharing each dy broadcast and window
    (win). One call site, n and with_dwin read at run time: a literal n = 4 and literal
    flags compiled three variants of this block, which doubled the compile time of a
    cold start and measured slower, not faster."""
    K, NV, KP = 5, 2, 32  # the only window size sent here: constants, so loops unroll
    w0, w1, w2, w3 = at_w[r], at_w[r + min(1, n - 1)], at_w[r + min(2, n - 1)], at_w[r + min(3, n - 1)]
    d0, d1, d2, d3 = at_dy[r], at_dy[r + min(1, n - 1)], at_dy[r + min(2, n - 1)], at_dy[r + min(3, n - 1)]
    zero = vsplat(dy.dtype.type(0))
    for va in range(0, NV, 2):
        vb = min(va + 1, NV - 1)  # an odd last vector repeats too
        ta, tb = va * LANES, vb * LANES
        bits_a, bits_b = _tap_bits(K, va), _tap_bits(K, vb)
        wa0, wb0 = vload_bits(w, w0 + ta, bits_a), vload_bits(w, w0 + tb, bits_b)
        wa1, wb1 = vload_bits(w, w1 + ta, bits_a), vload_bits(w, w1 + tb, bits_b)
        wa2, wb2 = vload_bits(w, w2 + ta, bits_a), vload_bits(w, w2 + tb, bits_b)
        wa3, wb3 = vload_bits(w, w3 + ta, bits_a), vload_bits(w, w3 + tb, bits_b)
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = zero
        for p in range(P):
            xa = vload(win, p * KP + ta)
            xb = vload(win, p * KP + tb)
            g0, g1 = vbroadcast(dy, d0 + p), vbroadcast(dy, d1 + p)
            g2, g3 = vbroadcast(dy, d2 + p), vbroadcast(dy, d3 + p)
            a0, a1, a2, a3, b0, b1, b2, b3 = _madd_4x2(a0, a1, a2, a3, b0, b1, b2, b3, g0, g1, g2, g3, xa, xb)
            if not with_dwin:
                continue
            if r == r_begin:
                ea, eb = zero, zero
            else:
                ea, eb = vload(dwin, p * KP + ta), vload(dwin, p * KP + tb)
            ea, eb = ea + g0 * wa0, eb + g0 * wb0
            if n > 1:
                ea, eb = ea + g1 * wa1, eb + g1 * wb1
            if n > 2:
                ea, eb = ea + g2 * wa2, eb + g2 * wb2
            if n > 3:
                ea, eb = ea + g3 * wa3, eb + g3 * wb3
            vstore(dwin, p * KP + ta, ea)
            vstore(dwin, p * KP + tb, eb)
        vstore_bits(dw, w0 + ta, a0, bits_a)
        vstore_bits(dw, w0 + tb, b0, bits_b)
        vstore_bits(dw, w1 + ta, a1, bits_a)
        vstore_bits(dw, w1 + tb, b1, bits_b)
        vstore_bits(dw, w2 + ta, a2, bits_a)
        vstore_bits(dw, w2 + tb, b2, bits_b)
        vstore_bits(dw, w3 + ta, a3, bits_a)
        vstore_bits(dw, w3 + tb, b3, bits_b)


@njit(cache=True, inline="always")
def _madd_4x2(a0, a1, a2, a3, b0, b1, b2, b3, g0, g1, g2, g3, xa, xb):
    """(a_k + g_k xa, b_k + g_k xb) for k = 0..3: eight independent sums in registers."""
    return (a0 + g0 * xa, a1 + g1 * xa, a2 + g2 * xa, a3 + g3 * xa,
            b0 + g0 * xb, b1 + g1 * xb, b2 + g2 * xb, b3 + g3 * xb)


@njit(cache=True, inline="always")
def _window5(x, corner, Wp):
    """The two vectors of the 5x5 window at x.flat[corner]: its rows loaded half-width (a
    whole vector's span would cross a cache line 15 times in 16) and placed by shuffles."""
    r0 = vload_half_bits(x, corner, 31, 0)
    r1 = vload_half_bits(x, corner + Wp, 31, 0)
    r2 = vload_half_bits(x, corner + 2 * Wp, 31, 0)
    r3 = vload_half_bits(x, corner + 3 * Wp, 31, 0)
    r4 = vload_half_bits(x, corner + 4 * Wp, 31, 0)
    v0 = vplace(vplace(vplace(r0, r1, 5, 5, 0), r2, 10, 5, 0), r3, 15, 1, 0)
    v1 = vplace(vplace(vsplat(x.dtype.type(0)), r3, 0, 4, 1), r4, 4, 5, 0)
    return v0, v1


@njit(cache=True)
def _dx_rows(dwin, i, K, KP, stride, H_out, W_out, dx):
    """dx[i, r, c] = sum of dwin[p, (r - oy*s, c - ox*s)] over the windows p = (oy, ox) that
    cover it, ox outer and oy inner: each row of dx[i] summed in a register and stored once."""
    K, NV, KP = 5, 2, 32  # the only window size sent here: constants, so loops unroll
    _, Hp, Wp = dx.shape
    zero = vsplat(dx.dtype.type(0))
    step = W_out * KP - stride * K  # from row ky of window (oy, ox) to row ky - s of (oy + 1, ox)
    for r in range(Hp):
        oy_lo = 0 if r < K else (r - K + stride) // stride  # ky = r - oy*s <= K - 1
        oy_hi = min(H_out - 1, r // stride)                    # ky >= 0
        for c0 in range(0, Wp, LANES):
            acc = zero
            for ox in range(W_out):
                lo = max(ox * stride - c0, 0)
                hi = min(ox * stride + K - c0, LANES)
                if lo < hi:
                    bits = (1 << hi) - (1 << lo)
                    base = ox * KP + r * K - ox * stride + c0
                    for oy in range(oy_lo, oy_hi + 1):
                        # row r - oy*s of window p = oy*W_out + ox
                        acc = acc + vload_bits(dwin, base + oy * step, bits)
            vstore_bits(dx, (i * Hp + r) * Wp + c0, acc, (1 << min(LANES, Wp - c0)) - 1)


@njit(cache=True, inline="always")
def _add_window_rows5(dwin, off, bits, a0, a1, a2, a3, a4):
    """a0..a4 += the five rows of a 5x5 dwin window at off, in the lanes of bits: half-width
    loads when those are lanes 0-7 (a whole vector's span crosses a cache line 15 times in
    16; placing a half elsewhere, with a shuffle, measured slower)."""
    if bits < 1 << 8:
        return (a0 + vload_half_bits(dwin, off, bits, 0), a1 + vload_half_bits(dwin, off + 5, bits, 0),
                a2 + vload_half_bits(dwin, off + 10, bits, 0), a3 + vload_half_bits(dwin, off + 15, bits, 0),
                a4 + vload_half_bits(dwin, off + 20, bits, 0))
    return (a0 + vload_bits(dwin, off, bits), a1 + vload_bits(dwin, off + 5, bits),
            a2 + vload_bits(dwin, off + 10, bits), a3 + vload_bits(dwin, off + 15, bits),
            a4 + vload_bits(dwin, off + 20, bits))


@njit(cache=True)
def _dx_rows_5x5_4_rows(dwin, i, stride, W_out, dx):
    """_dx_rows for 5x5 windows (KP = 32) in 4 rows of outputs, rows of dx within one
    vector (Hp = 8 at stride 1, 11 or 12 at stride 2): all rows of dx[i] in registers, the
    windows added in (ox, oy) order with no branch, then each row stored once."""
    _, Hp, Wp = dx.shape
    KP = 32
    r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = r8 = r9 = r10 = vsplat(dx.dtype.type(0))
    for ox in range(W_out):
        bits = 31 << (ox * stride)
        b = ox * KP - ox * stride  # + oy*W_out*KP + ky*5: row ky of window (oy, ox), lane c
        if stride == 1:
            r0, r1, r2, r3, r4 = _add_window_rows5(dwin, b, bits, r0, r1, r2, r3, r4)
            r1, r2, r3, r4, r5 = _add_window_rows5(dwin, b + W_out * KP, bits, r1, r2, r3, r4, r5)
            r2, r3, r4, r5, r6 = _add_window_rows5(dwin, b + 2 * W_out * KP, bits, r2, r3, r4, r5, r6)
            r3, r4, r5, r6, r7 = _add_window_rows5(dwin, b + 3 * W_out * KP, bits, r3, r4, r5, r6, r7)
        else:
            r0, r1, r2, r3, r4 = _add_window_rows5(dwin, b, bits, r0, r1, r2, r3, r4)
            r2, r3, r4, r5, r6 = _add_window_rows5(dwin, b + W_out * KP, bits, r2, r3, r4, r5, r6)
            r4, r5, r6, r7, r8 = _add_window_rows5(dwin, b + 2 * W_out * KP, bits, r4, r5, r6, r7, r8)
            r6, r7, r8, r9, r10 = _add_window_rows5(dwin, b + 3 * W_out * KP, bits, r6, r7, r8, r9, r10)
    at = i * Hp * Wp
    _store_rows4(dx, at, Wp, r0, r1, r2, r3)
    _store_rows4(dx, at + 4 * Wp, Wp, r4, r5, r6, r7)
    m = (1 << Wp) - 1
    if stride == 2:
        vstore_bits(dx, at + 8 * Wp, r8, m)
        vstore_bits(dx, at + 9 * Wp, r9, m)
        vstore_bits(dx, at + 10 * Wp, r10, m)
        if Hp == 12:  # a last row that no window reads
            vstore_bits(dx, at + 11 * Wp, vsplat(dx.dtype.type(0)), m)


@njit(cache=True, inline="always")
def _store_rows4(dx, at, Wp, a0, a1, a2, a3):
    """Four rows of Wp <= LANES values at dx.flat[at], one register each."""
    m = (1 << Wp) - 1
    vstore_bits(dx, at, a0, m)
    vstore_bits(dx, at + Wp, a1, m)
    vstore_bits(dx, at + 2 * Wp, a2, m)
    vstore_bits(dx, at + 3 * Wp, a3, m)
