"""Conv layers with wide output rows (stride 1, W_out >= 16: LeNet-1's first layer), on
16-lane vectors (kernels/simd.py). Shapes and arithmetic as in kernels/conv.py, whose
plain loops compute the same sums; conv.py decides which path runs.

Forward: four output rows at a time, each a 16-wide accumulator held in registers across
all the taps (independent add chains); every tap reads contiguous input row segments.
Four output maps that read the same input maps (LeNet-1's first layer: all read the
digit) run together, so each input segment is loaded once for the four.
Backward: dw as 16 partial sums along the rows, added in a fixed tree; for 5x5 kernels
an input row's five shifted segments are loaded once and serve all 25 taps (the row is
row ky of the windows of output row iy - ky). dx a row segment at a time.

A forward output adds bias, then the taps in (j, ky, kx) order, as the plain loops do, in
either block; dw is 16 lane-wise partial sums over (oy, chunk of the row) added in a fixed
tree, in both dw paths. So the blocking never changes a result.
"""

from ..jit_cache import njit
from .conv_shapes import conv_shapes, is_float32, same_inputs
from .simd import LANES, vhsum, vload_n, vsplat, vstore_n
from .simd_lanes import vload_shifts5


@njit(cache=True, inline="always")
def _madd4(a, wv, x0, x1, x2, x3):
    """Four rows' accumulators a (a 4-tuple of vectors) += wv * the rows' input segments."""
    return (a[0] + wv * x0, a[1] + wv * x1, a[2] + wv * x2, a[3] + wv * x3)


@njit(cache=True, inline="always")
def _rows_init(b, bias_per_unit, o, out, W_out, n0, n1, n2, n3):
    """The bias of map o's four output rows starting at flat offset out."""
    if bias_per_unit:
        return (vload_n(b, out, n0), vload_n(b, out + W_out, n1), vload_n(b, out + 2 * W_out, n2),
                vload_n(b, out + 3 * W_out, n3))
    v = vsplat(b[o])
    return (v, v, v, v)


@njit(cache=True, inline="always")
def _rows_store(y, out, W_out, a, n0, n1, n2, n3):
    vstore_n(y, out, a[0], n0)
    vstore_n(y, out + W_out, a[1], n1)
    vstore_n(y, out + 2 * W_out, a[2], n2)
    vstore_n(y, out + 3 * W_out, a[3], n3)


@njit(cache=True)
def conv2d_forward_wide(x, w, b, conn, bias_per_unit, y):
    """y (C_out, H_out, W_out) from x (C_in, Hp, Wp), all C-contiguous, stride 1."""
    C_out = y.shape[0]
    # whole vectors and row blocks of a 5x5 kernel: four maps reading the same inputs at
    # once, every loop bound a constant, no masks (LeNet-1's first layer); anything else a
    # map at a time. One call site each: an inlined variant is compiled per call, and a
    # cold start's compile time grows with every one.
    shape_4maps = y.shape[2] % LANES == 0 and y.shape[1] % 4 == 0 and w.shape[2] == 5
    o = 0
    while o < C_out:
        if shape_4maps and o + 4 <= C_out and same_inputs(conn, o, 4):
            _forward_4maps_5x5(x, w, b, conn, bias_per_unit, y, o)
            o += 4
        else:
            _forward_1map(x, w, b, conn, bias_per_unit, y, o)
            o += 1


@njit(cache=True, inline="always")
def _forward_4maps_5x5(x, w, b, conn, bias_per_unit, y, o):
    """Maps o..o+3 (reading the same inputs), four rows at a time: 16 accumulators. The
    caller checks the shape: a 5x5 kernel, rows of whole vectors, a multiple of 4 rows,
    so every loop bound is a constant and no load or store needs a mask."""
    C_out, n_conn, _, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, w, y)
    K = 5
    n0 = n1 = n2 = n3 = LANES
    for oy in range(0, H_out, 4):
        for ox0 in range(0, W_out, LANES):
            out = o * P + oy * W_out + ox0
            m0 = _rows_init(b, bias_per_unit, o, out, W_out, n0, n1, n2, n3)
            m1 = _rows_init(b, bias_per_unit, o + 1, out + P, W_out, n0, n1, n2, n3)
            m2 = _rows_init(b, bias_per_unit, o + 2, out + 2 * P, W_out, n0, n1, n2, n3)
            m3 = _rows_init(b, bias_per_unit, o + 3, out + 3 * P, W_out, n0, n1, n2, n3)
            for j in range(n_conn):
                for ky in range(K):
                    src = (conn[o, j] * Hp + oy + ky) * Wp + ox0
                    for kx in range(K):
                        x0 = vload_n(x, src + kx, n0)
                        x1 = vload_n(x, src + Wp + kx, n1)
                        x2 = vload_n(x, src + 2 * Wp + kx, n2)
                        x3 = vload_n(x, src + 3 * Wp + kx, n3)
                        m0 = _madd4(m0, w[o, j, ky, kx], x0, x1, x2, x3)
                        m1 = _madd4(m1, w[o + 1, j, ky, kx], x0, x1, x2, x3)
                        m2 = _madd4(m2, w[o + 2, j, ky, kx], x0, x1, x2, x3)
                        m3 = _madd4(m3, w[o + 3, j, ky, kx], x0, x1, x2, x3)
            _rows_store(y, out, W_out, m0, n0, n1, n2, n3)
            _rows_store(y, out + P, W_out, m1, n0, n1, n2, n3)
            _rows_store(y, out + 2 * P, W_out, m2, n0, n1, n2, n3)
            _rows_store(y, out + 3 * P, W_out, m3, n0, n1, n2, n3)


@njit(cache=True, inline="always")
def _forward_1map(x, w, b, conn, bias_per_unit, y, o):
    """Map o alone, four rows at a time."""
    C_out, n_conn, K, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, w, y)
    # a row past the map gets n = 0: nothing is read or written for it
    for oy in range(0, H_out, 4):
        for ox0 in range(0, W_out, LANES):
            n0 = min(LANES, W_out - ox0)
            n1 = n0 if oy + 1 < H_out else 0
            n2 = n0 if oy + 2 < H_out else 0
            n3 = n0 if oy + 3 < H_out else 0
            out = o * P + oy * W_out + ox0
            m = _rows_init(b, bias_per_unit, o, out, W_out, n0, n1, n2, n3)
            for j in range(n_conn):
                for ky in range(K):
                    src = (conn[o, j] * Hp + oy + ky) * Wp + ox0
                    for kx in range(K):
                        m = _madd4(m, w[o, j, ky, kx], vload_n(x, src + kx, n0), vload_n(x, src + Wp + kx, n1),
                                   vload_n(x, src + 2 * Wp + kx, n2), vload_n(x, src + 3 * Wp + kx, n3))
            _rows_store(y, out, W_out, m, n0, n1, n2, n3)


@njit(cache=True, inline="always")
def _madd5(a, g, x0, x1, x2, x3, x4):
    """Five taps' accumulators a (a 5-tuple of vectors) += g * the five shifted segments."""
    return (a[0] + g * x0, a[1] + g * x1, a[2] + g * x2, a[3] + g * x3, a[4] + g * x4)


@njit(cache=True, inline="always")
def _store_hsum5(dw, o, j, ky, a):
    for kx in range(5):
        dw[o, j, ky, kx] = vhsum(a[kx])


@njit(cache=True)
def conv2d_backward_wide(x, w, conn, dy, dx, dw, compute_dx):
    """Overwrites dw and (if compute_dx) dx; the bias gradient is conv.py's bias_backward."""
    C_out, n_conn, K, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, w, dy)
    zero = dy.dtype.type(0)
    for o in range(C_out):
        for j in range(n_conn):
            # whole vectors (the masks fold away) only: one variant to compile. float32
            # only: 25 accumulators of float64 lanes are 50 registers, which spill. The row
            # passes get "whole vectors" as a flag (the same masks for a whole pass, where a
            # mask and bound computed per load took 2x the time); as literals they measured
            # 10% faster and took 0.4 s more of a cold start's compile
            if K == 5 and W_out % LANES == 0 and is_float32(dw):
                _dw_5x5(x, dy, conn, dw, o, j)
            else:
                _dw_rows(x, dy, conn, dw, o, j, K, W_out % LANES == 0)
    if compute_dx:
        # dx[i, oy+ky, ox+kx] += w[o,j,ky,kx] * dy[o,oy,ox], a row segment at a time
        dx[:] = zero
        for o in range(C_out):
            for j in range(n_conn):
                for ky in range(K):
                    for kx in range(K):
                        wv = w[o, j, ky, kx]
                        for oy in range(H_out):
                            dst = (conn[o, j] * Hp + oy + ky) * Wp + kx
                            for ox0 in range(0, W_out, LANES):
                                n = min(LANES, W_out - ox0)
                                g = vload_n(dy, o * P + oy * W_out + ox0, n)
                                vstore_n(dx, dst + ox0, vload_n(dx, dst + ox0, n) + wv * g, n)


@njit(cache=True, inline="always")
def _dw_rows(x, dy, conn, dw, o, j, K, whole):
    """dw[o, j] of a K x K kernel: 16 partial sums along the row, added in a fixed tree at
    the end; five kx at a time share the dy loads, as five independent add chains. With
    whole (rows of whole vectors) and K = 5, an input row segment's five shifts come from
    one load (vload_shifts5)."""
    C_out, n_conn, _, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, dw, dy)
    zero = dy.dtype.type(0)
    for ky in range(K):
        for kx in range(0, K, 5):
            a0 = a1 = a2 = a3 = a4 = vsplat(zero)
            for oy in range(H_out):
                src = (conn[o, j] * Hp + oy + ky) * Wp + kx
                for ox0 in range(0, W_out, LANES):
                    n = LANES if whole else min(LANES, W_out - ox0)
                    g = vload_n(dy, o * P + oy * W_out + ox0, n)
                    if whole and K == 5:
                        s0, s1, s2, s3, s4 = vload_shifts5(x, src + ox0)
                        a0, a1, a2, a3, a4 = a0 + g * s0, a1 + g * s1, a2 + g * s2, a3 + g * s3, a4 + g * s4
                        continue
                    a0 = a0 + g * vload_n(x, src + ox0, n)
                    a1 = a1 + g * vload_n(x, src + ox0 + 1, n if kx + 1 < K else 0)
                    a2 = a2 + g * vload_n(x, src + ox0 + 2, n if kx + 2 < K else 0)
                    a3 = a3 + g * vload_n(x, src + ox0 + 3, n if kx + 3 < K else 0)
                    a4 = a4 + g * vload_n(x, src + ox0 + 4, n if kx + 4 < K else 0)
            dw[o, j, ky, kx] = vhsum(a0)
            if kx + 1 < K:
                dw[o, j, ky, kx + 1] = vhsum(a1)
            if kx + 2 < K:
                dw[o, j, ky, kx + 2] = vhsum(a2)
            if kx + 3 < K:
                dw[o, j, ky, kx + 3] = vhsum(a3)
            if kx + 4 < K:
                dw[o, j, ky, kx + 4] = vhsum(a4)


@njit(cache=True, inline="always")
def _dw_5x5(x, dy, conn, dw, o, j):
    """dw[o, j] of a 5x5 kernel: input row iy is row ky of the windows of output row
    iy - ky, so its five shifted segments, loaded once, feed all 25 taps' accumulators
    (instead of being reloaded for each ky). Each tap still adds its terms over oy in
    order, then over the row's chunks: the sums of _dw_rows, bit for bit."""
    C_out, n_conn, K, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, dw, dy)
    z = vsplat(dy.dtype.type(0))
    r0 = r1 = r2 = r3 = r4 = (z, z, z, z, z)  # r_ky[kx]
    i = conn[o, j]
    for iy in range(H_out + 4):
        for ox0 in range(0, W_out, LANES):
            n = LANES  # whole vectors: the caller checks W_out % 16 == 0
            src = (i * Hp + iy) * Wp + ox0
            x0 = vload_n(x, src, n)
            x1 = vload_n(x, src + 1, n)
            x2 = vload_n(x, src + 2, n)
            x3 = vload_n(x, src + 3, n)
            x4 = vload_n(x, src + 4, n)
            g_row = o * P + iy * W_out + ox0  # dy row iy - ky is g_row - ky * W_out
            if iy < H_out:
                r0 = _madd5(r0, vload_n(dy, g_row, n), x0, x1, x2, x3, x4)
            if 1 <= iy and iy - 1 < H_out:
                r1 = _madd5(r1, vload_n(dy, g_row - W_out, n), x0, x1, x2, x3, x4)
            if 2 <= iy and iy - 2 < H_out:
                r2 = _madd5(r2, vload_n(dy, g_row - 2 * W_out, n), x0, x1, x2, x3, x4)
            if 3 <= iy and iy - 3 < H_out:
                r3 = _madd5(r3, vload_n(dy, g_row - 3 * W_out, n), x0, x1, x2, x3, x4)
            if 4 <= iy:
                r4 = _madd5(r4, vload_n(dy, g_row - 4 * W_out, n), x0, x1, x2, x3, x4)
    _store_hsum5(dw, o, j, 0, r0)
    _store_hsum5(dw, o, j, 1, r1)
    _store_hsum5(dw, o, j, 2, r2)
    _store_hsum5(dw, o, j, 3, r3)
    _store_hsum5(dw, o, j, 4, r4)
