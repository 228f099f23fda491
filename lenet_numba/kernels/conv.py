"""2-D cross-correlation layer: forward/backward pair, plus the padding pair.

Cross-correlation, not convolution: the kernel is never flipped, like torch's conv2d.
Padding is its own step (pad_forward copies the input into a larger buffer filled with
`value`), so the conv kernels only ever see a "valid" problem; the 1989 zip-code net pads
with -1 (background), LeNet-1 with 0.

Shapes (one sample, no batch dimension):
  x     (C_in, H, W)           input, already padded
  w     (C_out, n_conn, K, K)  w[o, j] is the kernel applied to input map conn[o, j]
  conn  (C_out, n_conn) int    connection table; a full layer has conn[o, j] = j
  b     (C_out,)               one bias per map, or
        (C_out * H_out * W_out,) one bias per unit (bias_per_unit=True, 1989 net)
  y     (C_out, H_out, W_out)  H_out = (H - K) // stride + 1

Speed: conv2d_forward/backward run on explicit 16-lane vectors (kernels/simd.py) when the
arguments are C-contiguous and the layer fits the stack scratch; otherwise the plain loops
at the end of each function compute the same sums. See the comments on each path.
"""

import numpy as np
from numba import carray

from ..jit_cache import njit
from .simd import (LANES, stack_ptr, vgather_n, vhsum, vload, vload_even_n, vload_n, vload_range, vsplat, vstore,
                   vstore_n)

# Stack scratch of the vectorized paths, in elements: nothing is heap-allocated per sample.
SCRATCH = 8192
MAX_P = 1024  # output positions per map
OFFS_LEN = MAX_P + LANES
MAX_READERS = 1024  # input maps, and (output map, connection) pairs, of one layer


@njit(cache=True)
def conv2d_forward(x, w, b, conn, stride, bias_per_unit, y):
    C_out, n_conn, K, _ = w.shape
    C_in, Hp, Wp = x.shape
    _, H_out, W_out = y.shape
    P = H_out * W_out
    KK = K * K
    PP = (P + LANES - 1) // LANES * LANES
    contiguous = x.flags.c_contiguous and w.flags.c_contiguous and b.flags.c_contiguous and y.flags.c_contiguous
    if contiguous and stride == 1 and W_out >= LANES:
        # wide rows (LeNet-1's C1): four output rows at a time, each a 16-wide accumulator
        # held in registers across all taps (four independent add chains); every tap reads
        # contiguous input row segments. A row past the map gets n = 0: nothing is read.
        for o in range(C_out):
            for oy in range(0, H_out, 4):
                for ox0 in range(0, W_out, LANES):
                    n0 = min(LANES, W_out - ox0)
                    n1 = n0 if oy + 1 < H_out else 0
                    n2 = n0 if oy + 2 < H_out else 0
                    n3 = n0 if oy + 3 < H_out else 0
                    out = o * P + oy * W_out + ox0
                    if bias_per_unit:
                        a0 = vload_n(b, out, n0)
                        a1 = vload_n(b, out + W_out, n1)
                        a2 = vload_n(b, out + 2 * W_out, n2)
                        a3 = vload_n(b, out + 3 * W_out, n3)
                    else:
                        a0 = a1 = a2 = a3 = vsplat(b[o])
                    for j in range(n_conn):
                        for ky in range(K):
                            src = (conn[o, j] * Hp + oy + ky) * Wp + ox0
                            for kx in range(K):
                                wv = w[o, j, ky, kx]
                                a0 = a0 + wv * vload_n(x, src + kx, n0)
                                a1 = a1 + wv * vload_n(x, src + Wp + kx, n1)
                                a2 = a2 + wv * vload_n(x, src + 2 * Wp + kx, n2)
                                a3 = a3 + wv * vload_n(x, src + 3 * Wp + kx, n3)
                    vstore_n(y, out, a0, n0)
                    vstore_n(y, out + W_out, a1, n1)
                    vstore_n(y, out + 2 * W_out, a2, n2)
                    vstore_n(y, out + 3 * W_out, a3, n3)
        return
    if contiguous and C_in * KK * PP <= SCRATCH and P <= MAX_P:
        # small maps (rows of 4 or 8, stride 2): gather each tap's inputs for all output
        # positions into a row of cols (im2col, on the stack), then 16 positions per vector,
        # four output maps at a time (a last incomplete block repeats map C_out - 1)
        cols = carray(stack_ptr(SCRATCH, x.dtype), (SCRATCH,))
        offs = carray(stack_ptr(OFFS_LEN, np.int32), (OFFS_LEN,))
        _window_offsets(H_out, W_out, stride, Wp, offs)
        _im2col(x, K, stride, H_out, W_out, offs, PP, cols)
        for o0 in range(0, C_out, 4):
            o1 = min(o0 + 1, C_out - 1)
            o2 = min(o0 + 2, C_out - 1)
            o3 = min(o0 + 3, C_out - 1)
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
        return
    # generic loops (non-contiguous arguments, or layers too large for the scratch)
    for o in range(C_out):
        for oy in range(H_out):
            for ox in range(W_out):
                if bias_per_unit:
                    y[o, oy, ox] = b[(o * H_out + oy) * W_out + ox]
                else:
                    y[o, oy, ox] = b[o]
        for j in range(n_conn):
            i = conn[o, j]
            for ky in range(K):
                for kx in range(K):
                    wv = w[o, j, ky, kx]
                    for oy in range(H_out):
                        iy = oy * stride + ky
                        for ox in range(W_out):
                            y[o, oy, ox] += wv * x[i, iy, ox * stride + kx]


@njit(cache=True)
def conv2d_backward(x, w, conn, stride, bias_per_unit, dy, dx, dw, db, compute_dx):
    """Overwrites dw, db and (if compute_dx) dx with the gradients of one sample."""
    C_out, n_conn, K, _ = w.shape
    C_in, Hp, Wp = x.shape
    _, H_out, W_out = dy.shape
    P = H_out * W_out
    KK = K * K
    KP = (KK + LANES - 1) // LANES * LANES
    zero = dy.dtype.type(0)
    contiguous = (x.flags.c_contiguous and w.flags.c_contiguous and dy.flags.c_contiguous
                  and dx.flags.c_contiguous and dw.flags.c_contiguous and db.flags.c_contiguous)
    wide = contiguous and stride == 1 and W_out >= LANES
    small = (contiguous and P * KP + LANES <= SCRATCH and K <= LANES and C_in < MAX_READERS
             and C_out * n_conn <= MAX_READERS)
    if wide or small:
        # y[o,oy,ox] = b[o] + ...  ->  db[o] = sum dy[o]   (or db[unit] = dy[unit])
        for o in range(C_out):
            if bias_per_unit:
                for p0 in range(0, P, LANES):
                    n = min(LANES, P - p0)
                    vstore_n(db, o * P + p0, vload_n(dy, o * P + p0, n), n)
            else:
                acc = vsplat(zero)
                for p0 in range(0, P, LANES):
                    acc = acc + vload_n(dy, o * P + p0, min(LANES, P - p0))
                db[o] = vhsum(acc)
    if wide:
        # dw[o,j,ky,kx] = sum_{oy,ox} dy[o,oy,ox] * x[i, oy+ky, ox+kx]: 16 partial sums along
        # the row, added in a fixed tree at the end; five kx at a time (a whole row of a
        # 5x5 kernel) share the dy loads, and run as five independent add chains
        for o in range(C_out):
            for j in range(n_conn):
                for ky in range(K):
                    for kx in range(0, K, 5):
                        a0 = a1 = a2 = a3 = a4 = vsplat(zero)
                        for oy in range(H_out):
                            src = (conn[o, j] * Hp + oy + ky) * Wp + kx
                            for ox0 in range(0, W_out, LANES):
                                n = min(LANES, W_out - ox0)
                                g = vload_n(dy, o * P + oy * W_out + ox0, n)
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
        return
    if small:
        _conv2d_backward_small(x, w, conn, stride, dy, dx, dw, compute_dx)
        return
    # generic loops (non-contiguous arguments, or layers too large for the scratch)
    for o in range(C_out):
        if bias_per_unit:
            for oy in range(H_out):
                for ox in range(W_out):
                    db[(o * H_out + oy) * W_out + ox] = dy[o, oy, ox]
        else:
            s = 0.0
            for oy in range(H_out):
                for ox in range(W_out):
                    s += dy[o, oy, ox]
            db[o] = s
    # y[o,oy,ox] += w[o,j,ky,kx] * x[i, oy*s+ky, ox*s+kx]
    #   ->  dw[o,j,ky,kx] = sum_{oy,ox} dy[o,oy,ox] * x[i, oy*s+ky, ox*s+kx]
    for o in range(C_out):
        for j in range(n_conn):
            i = conn[o, j]
            for ky in range(K):
                for kx in range(K):
                    s = 0.0
                    for oy in range(H_out):
                        iy = oy * stride + ky
                        for ox in range(W_out):
                            s += dy[o, oy, ox] * x[i, iy, ox * stride + kx]
                    dw[o, j, ky, kx] = s
    if not compute_dx:
        return
    #   ->  dx[i, oy*s+ky, ox*s+kx] += w[o,j,ky,kx] * dy[o,oy,ox]
    dx[:] = 0.0
    for o in range(C_out):
        for j in range(n_conn):
            i = conn[o, j]
            for ky in range(K):
                for kx in range(K):
                    wv = w[o, j, ky, kx]
                    for oy in range(H_out):
                        iy = oy * stride + ky
                        for ox in range(W_out):
                            dx[i, iy, ox * stride + kx] += wv * dy[o, oy, ox]


@njit(cache=True)
def _window_offsets(H_out, W_out, stride, Wp, offs):
    """offs[p] = where output position p = oy*W_out + ox reads (its window's corner) in an
    input map of width Wp; LANES zeros follow, so a gather may read a whole vector of them."""
    for oy in range(H_out):
        for ox in range(W_out):
            offs[oy * W_out + ox] = oy * stride * Wp + ox * stride
    for p in range(H_out * W_out, H_out * W_out + LANES):
        offs[p] = 0


@njit(cache=True)
def _im2col(x, K, stride, H_out, W_out, offs, PP, cols):
    """cols[((i*K + ky)*K + kx)*PP + p] = x[i, oy*s + ky, ox*s + kx]; lanes P..PP are 0."""
    C, Hp, Wp = x.shape
    P = H_out * W_out
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


@njit(cache=True)
def _conv2d_backward_small(x, w, conn, stride, dy, dx, dw, compute_dx):
    """dw (and dx) of a layer with small output maps, one input map at a time.

    For input map i, win[p] (pitch KP, a whole number of vectors) holds the window that
    output position p reads, win[p, ky*K + kx] = x[i, oy*s + ky, ox*s + kx]. Then for each
    (o, j) reading map i, dw[o, j] = sum_p dy[o, p] win[p] and the window of dL/dx[i]
    that p receives, dwin[p] += dy[o, p] w[o, j], are both a vector FMA per position and
    per 16 taps. Each row of dx[i] is then assembled in a register from the window rows
    that overlap it (masked loads at shifted offsets) and stored once.
    """
    C_out, n_conn, K, _ = w.shape
    C_in, Hp, Wp = x.shape
    _, H_out, W_out = dy.shape
    P = H_out * W_out
    KK = K * K
    KP = (KK + LANES - 1) // LANES * LANES
    zero = dy.dtype.type(0)
    win = carray(stack_ptr(SCRATCH, x.dtype), (SCRATCH,))
    dwin = carray(stack_ptr(SCRATCH, x.dtype), (SCRATCH,))
    for k in range(P * KP):
        win[k] = zero  # the pad lanes of each window stay 0
    # the (o, j) that read each input map, grouped by map: a counting sort of conn
    first = carray(stack_ptr(MAX_READERS, np.int64), (MAX_READERS,))
    fill = carray(stack_ptr(MAX_READERS, np.int64), (MAX_READERS,))
    reader = carray(stack_ptr(MAX_READERS, np.int64), (MAX_READERS,))
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
            reader[fill[i]] = o * n_conn + j
            fill[i] += 1
    for i in range(C_in):
        for oy in range(H_out):
            for ox in range(W_out):
                for ky in range(K):
                    vstore_n(win, (oy * W_out + ox) * KP + ky * K,
                             vload_n(x, (i * Hp + oy * stride + ky) * Wp + ox * stride, K), K)
        if compute_dx:
            for k in range(P * KP):
                dwin[k] = zero
        r = first[i]
        while r < first[i + 1]:
            # two readers of map i per pass when there are two left: they share the window
            # loads and one read-modify-write of dwin (adding the first reader's term, then
            # the second's, the same order as one at a time)
            pair = r + 1 < first[i + 1]
            oj = reader[r]
            o = oj // n_conn
            oj2 = reader[r + 1] if pair else oj
            o2 = oj2 // n_conn
            for c0 in range(0, KK, 2 * LANES):
                na = min(LANES, KK - c0)
                nb = max(0, min(LANES, KK - c0 - LANES))
                wa = vload_n(w, oj * KK + c0, na)
                wb = vload_n(w, oj * KK + c0 + LANES, nb)
                wa2 = vload_n(w, oj2 * KK + c0, na)
                wb2 = vload_n(w, oj2 * KK + c0 + LANES, nb)
                acc_a = vsplat(zero)
                acc_b = vsplat(zero)
                acc_a2 = vsplat(zero)
                acc_b2 = vsplat(zero)
                for oy in range(H_out):
                    for ox in range(W_out):
                        g = dy[o, oy, ox]
                        g2 = dy[o2, oy, ox]
                        off = (oy * W_out + ox) * KP + c0
                        xa = vload(win, off)
                        xb = vload_n(win, off + LANES, nb)
                        acc_a = acc_a + g * xa
                        acc_b = acc_b + g * xb
                        acc_a2 = acc_a2 + g2 * xa
                        acc_b2 = acc_b2 + g2 * xb
                        if compute_dx:
                            if pair:
                                vstore(dwin, off, (vload(dwin, off) + g * wa) + g2 * wa2)
                                vstore_n(dwin, off + LANES, (vload_n(dwin, off + LANES, nb) + g * wb) + g2 * wb2, nb)
                            else:
                                vstore(dwin, off, vload(dwin, off) + g * wa)
                                vstore_n(dwin, off + LANES, vload_n(dwin, off + LANES, nb) + g * wb, nb)
                vstore_n(dw, oj * KK + c0, acc_a, na)
                vstore_n(dw, oj * KK + c0 + LANES, acc_b, nb)
                if pair:
                    vstore_n(dw, oj2 * KK + c0, acc_a2, na)
                    vstore_n(dw, oj2 * KK + c0 + LANES, acc_b2, nb)
            r += 2 if pair else 1
        if compute_dx:
            # dx[i, r, c] = sum of dwin[p, ky*K + c - ox*s] over the windows p = (oy, ox) whose
            # row ky = r - oy*s covers it: each row of dx[i] is assembled in a register from
            # masked loads at shifted offsets (one mask per ox) and stored once
            for r in range(Hp):
                oy_lo = 0 if r < K else (r - K + stride) // stride  # ky = r - oy*s <= K - 1
                oy_hi = min(H_out - 1, r // stride)                    # ky >= 0
                for c0 in range(0, Wp, LANES):
                    acc = vsplat(zero)
                    for ox in range(W_out):
                        lo = max(ox * stride - c0, 0)
                        hi = min(ox * stride + K - c0, LANES)
                        if lo < hi:
                            for oy in range(oy_lo, oy_hi + 1):
                                acc = acc + vload_range(dwin, (oy * W_out + ox) * KP + (r - oy * stride) * K
                                                        - ox * stride + c0, lo, hi)
                    vstore_n(dx, (i * Hp + r) * Wp + c0, acc, min(LANES, Wp - c0))


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


@njit(cache=True)
def conv2d_backward_gn(x, w, conn, stride, bias_per_unit, d2a, d2x, hw, hb, compute_dx):
    """Second-order (diagonal Gauss-Newton) backward of one sample, for SDLM.

    d2a (C_out, H_out, W_out) is d2E/da^2 at this layer's pre-activation. Every connection
    sharing a weight adds d2E/da^2 * (its input)^2 (LeCun et al. 1998, App. C), so this
    accumulates (+=)
        hw[o,j,ky,kx] += sum_{oy,ox} d2a[o,oy,ox] * x[conn[o,j], oy*s+ky, ox*s+kx]^2
        hb[o] += sum d2a[o]          (or hb[unit] += d2a[unit] with bias_per_unit)
    and, if compute_dx, overwrites d2x[i, iy, ix] = sum of w^2 * d2a over the connections
    reading x[i, iy, ix]. For a padded input, d2x is the padded buffer and pad_backward
    extracts its interior, exactly as for the gradient.
    """
    C_out, n_conn, K, _ = w.shape
    _, H_out, W_out = d2a.shape
    for o in range(C_out):
        if bias_per_unit:
            for oy in range(H_out):
                for ox in range(W_out):
                    hb[(o * H_out + oy) * W_out + ox] += d2a[o, oy, ox]
        else:
            s = 0.0
            for oy in range(H_out):
                for ox in range(W_out):
                    s += d2a[o, oy, ox]
            hb[o] += s
    for o in range(C_out):
        for j in range(n_conn):
            i = conn[o, j]
            for ky in range(K):
                for kx in range(K):
                    s = 0.0
                    for oy in range(H_out):
                        iy = oy * stride + ky
                        for ox in range(W_out):
                            v = x[i, iy, ox * stride + kx]
                            s += d2a[o, oy, ox] * v * v
                    hw[o, j, ky, kx] += s
    if not compute_dx:
        return
    d2x[:] = 0.0
    for o in range(C_out):
        for j in range(n_conn):
            i = conn[o, j]
            for ky in range(K):
                for kx in range(K):
                    wv = w[o, j, ky, kx]
                    ww = wv * wv
                    for oy in range(H_out):
                        iy = oy * stride + ky
                        for ox in range(W_out):
                            d2x[i, iy, ox * stride + kx] += ww * d2a[o, oy, ox]
