"""Forward kernels for 16 images at once, one image per vector lane (inference only).

Why: inference has no dependency from one image to the next, so 16 images can share every
instruction. With the images in the lanes, every multiply and add is a whole 16-lane
vector (kernels/simd.py) and a weight is one broadcast: no masks, no shuffles, no
horizontal sums, however small the layer's maps are. A training step cannot do this (each
sample's update changes the weights the next one reads); model.predict, evaluate, the
per-pass evaluation and the page can.

Layout: a lane buffer holds unit u of lane (image) l at u * LANES + l, where u is the
unit's index in the one-image buffers of network.py. So a (C, H, W) map of 16 images is
(C, H, W, LANES), C-contiguous; offsets below are in units and are scaled here.

Each lane computes exactly what the one-image kernels compute for its image: the same
terms, added in the same order, in the same types (conv: the bias, then the taps in
(connection, row, column) order; subsampling: the 2x2 sum in block_sum's order, then
float64 scale and offset; dense: kernels/dense.py's 16 partial sums and their fixed tree).
So the outputs are the same bits as network.forward's (tests/test_lanes.py checks it).
Activations are elementwise: activations.activation_forward runs on a lane buffer as is.
"""

import numpy as np

from ..jit_cache import njit
from .simd import LANES, vload, vsplat, vstore
from .simd_lanes import vbroadcast, vcast_like

BLOCK = 4  # conv outputs of a row computed together, sharing each weight's broadcast


@njit(cache=True)
def pad_forward_lanes(x, C, H, W, pad, value, xp):
    """xp (C, H+2p, W+2p, LANES) = x (C, H, W, LANES) surrounded by `pad` of `value`."""
    Hp, Wp = H + 2 * pad, W + 2 * pad
    v = vsplat(xp.dtype.type(value))
    for c in range(C):
        for r in range(Hp):
            for q in range(Wp):
                dst = ((c * Hp + r) * Wp + q) * LANES
                if pad <= r < pad + H and pad <= q < pad + W:
                    vstore(xp, dst, vload(x, ((c * H + r - pad) * W + q - pad) * LANES))
                else:
                    vstore(xp, dst, v)


@njit(cache=True, inline="always")
def _row5(x, row, w, wk, a0, a1, a2, a3, K, stride):
    """One kernel row's five taps for four neighbouring outputs (stride 1): the eight input
    vectors they read are loaded once and each weight broadcast once, so the loop runs on
    its multiplies and adds rather than on loads. Per output, taps in kx order."""
    x0, x1, x2, x3 = vload(x, row), vload(x, row + LANES), vload(x, row + 2 * LANES), vload(x, row + 3 * LANES)
    x4, x5, x6, x7 = (vload(x, row + 4 * LANES), vload(x, row + 5 * LANES), vload(x, row + 6 * LANES),
                      vload(x, row + 7 * LANES))
    wv = vbroadcast(w, wk)
    a0, a1, a2, a3 = a0 + wv * x0, a1 + wv * x1, a2 + wv * x2, a3 + wv * x3
    wv = vbroadcast(w, wk + 1)
    a0, a1, a2, a3 = a0 + wv * x1, a1 + wv * x2, a2 + wv * x3, a3 + wv * x4
    wv = vbroadcast(w, wk + 2)
    a0, a1, a2, a3 = a0 + wv * x2, a1 + wv * x3, a2 + wv * x4, a3 + wv * x5
    wv = vbroadcast(w, wk + 3)
    a0, a1, a2, a3 = a0 + wv * x3, a1 + wv * x4, a2 + wv * x5, a3 + wv * x6
    wv = vbroadcast(w, wk + 4)
    return a0 + wv * x4, a1 + wv * x5, a2 + wv * x6, a3 + wv * x7


@njit(cache=True, inline="always")
def _row5_stride2(x, row, w, wk, a0, a1, a2, a3, K, stride):
    """_row5 for stride 2: output b's tap kx reads input 2b + kx, eleven vectors in all."""
    x0, x1, x2, x3 = vload(x, row), vload(x, row + LANES), vload(x, row + 2 * LANES), vload(x, row + 3 * LANES)
    x4, x5, x6, x7 = (vload(x, row + 4 * LANES), vload(x, row + 5 * LANES), vload(x, row + 6 * LANES),
                      vload(x, row + 7 * LANES))
    x8, x9, x10 = vload(x, row + 8 * LANES), vload(x, row + 9 * LANES), vload(x, row + 10 * LANES)
    wv = vbroadcast(w, wk)
    a0, a1, a2, a3 = a0 + wv * x0, a1 + wv * x2, a2 + wv * x4, a3 + wv * x6
    wv = vbroadcast(w, wk + 1)
    a0, a1, a2, a3 = a0 + wv * x1, a1 + wv * x3, a2 + wv * x5, a3 + wv * x7
    wv = vbroadcast(w, wk + 2)
    a0, a1, a2, a3 = a0 + wv * x2, a1 + wv * x4, a2 + wv * x6, a3 + wv * x8
    wv = vbroadcast(w, wk + 3)
    a0, a1, a2, a3 = a0 + wv * x3, a1 + wv * x5, a2 + wv * x7, a3 + wv * x9
    wv = vbroadcast(w, wk + 4)
    return a0 + wv * x4, a1 + wv * x6, a2 + wv * x8, a3 + wv * x10


@njit(cache=True, inline="always")
def _row_any(x, row, w, wk, a0, a1, a2, a3, K, stride):
    """One kernel row's K taps for four neighbouring outputs, any size and stride."""
    for kx in range(K):
        wv = vbroadcast(w, wk + kx)
        a0 = a0 + wv * vload(x, row + kx * LANES)
        a1 = a1 + wv * vload(x, row + (stride + kx) * LANES)
        a2 = a2 + wv * vload(x, row + (2 * stride + kx) * LANES)
        a3 = a3 + wv * vload(x, row + (3 * stride + kx) * LANES)
    return a0, a1, a2, a3


@njit(cache=True, inline="always")
def _conv_blocks(row_taps, x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out):
    """The layer in blocks of four outputs of a row, each kernel row's taps by row_taps (a
    compile-time constant: each caller gets its own loop nest); a row's last outputs that
    make no whole block one at a time."""
    C_out, n_conn, K, _ = w.shape
    for o in range(C_out):
        for oy in range(H_out):
            for ox0 in range(0, W_out, BLOCK):
                u = (o * H_out + oy) * W_out + ox0  # first output unit of the block
                if ox0 + BLOCK <= W_out:
                    if bias_per_unit:
                        a0, a1, a2, a3 = vsplat(b[u]), vsplat(b[u + 1]), vsplat(b[u + 2]), vsplat(b[u + 3])
                    else:
                        a0 = a1 = a2 = a3 = vsplat(b[o])
                    for j in range(n_conn):
                        i = conn[o, j]
                        for ky in range(K):
                            row = ((i * H + oy * stride + ky) * W + ox0 * stride) * LANES
                            a0, a1, a2, a3 = row_taps(x, row, w, ((o * n_conn + j) * K + ky) * K,
                                                      a0, a1, a2, a3, K, stride)
                    vstore(y, u * LANES, a0)
                    vstore(y, (u + 1) * LANES, a1)
                    vstore(y, (u + 2) * LANES, a2)
                    vstore(y, (u + 3) * LANES, a3)
                else:
                    for ox in range(ox0, W_out):
                        unit = u + ox - ox0
                        acc = vsplat(b[unit]) if bias_per_unit else vsplat(b[o])
                        for j in range(n_conn):
                            i = conn[o, j]
                            for ky in range(K):
                                row = ((i * H + oy * stride + ky) * W + ox * stride) * LANES
                                wk = ((o * n_conn + j) * K + ky) * K
                                for kx in range(K):
                                    acc = acc + vbroadcast(w, wk + kx) * vload(x, row + kx * LANES)
                        vstore(y, unit * LANES, acc)


@njit(cache=True)
def conv2d_forward_lanes(x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out):
    """x (C_in, H, W, LANES), already padded; w (C_out, n_conn, K, K); y (C_out, H_out,
    W_out, LANES): kernels/conv.py's conv2d_forward_loops, per lane."""
    _conv_lanes(x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out)


@njit(cache=True, fastmath={"contract"})
def conv2d_forward_lanes_fast(x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out):
    """conv2d_forward_lanes with each multiply-add fused (one rounding instead of two): the
    fast numerics policy's (numerics.py); the terms are added in the same order."""
    _conv_lanes(x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out)


@njit(cache=True, inline="always")
def _conv_lanes(x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out):
    """The body of both conv entries: inlined, it takes the entry's fastmath flags."""
    K = w.shape[2]
    if K == 5 and stride == 1:
        _conv_blocks(_row5, x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out)
    elif K == 5 and stride == 2:
        _conv_blocks(_row5_stride2, x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out)
    else:
        _conv_blocks(_row_any, x, H, W, w, b, conn, stride, bias_per_unit, y, H_out, W_out)


@njit(cache=True)
def subsample_forward_lanes(x, H, W, alpha, beta, y, H_out, W_out):
    """x (C, H, W, LANES), y (C, H_out, W_out, LANES): kernels/subsample.py's forward,
    y = alpha/4 * (2x2 sum) + beta in float64, rounded once to y's type."""
    C = alpha.shape[0]
    zero = y.dtype.type(0)
    for c in range(C):
        a = alpha[c] * 0.25
        bb = np.float64(beta[c])
        for i in range(H_out):
            for j in range(W_out):
                r0 = ((c * H + 2 * i) * W + 2 * j) * LANES
                r1 = r0 + W * LANES
                s = ((vload(x, r0) + vload(x, r0 + LANES)) + vload(x, r1)) + vload(x, r1 + LANES)
                vstore(y, ((c * H_out + i) * W_out + j) * LANES, vcast_like(vcast_like(s, a) * a + bb, zero))


@njit(cache=True)
def dense_forward_lanes(x, w, b, y, part):
    """x (n_in, LANES), w (n_out, n_in), y (n_out, LANES); part: scratch of LANES * LANES.

    kernels/dense.py's sums per lane: partial sum k adds w[o, i] x[i] for i = k, k + 16,
    ... (a term past n_in adds 0, as its masked load does), then the 16 partials meet in
    vhsum's tree (k + 8, then + 4, + 2, + 1) and the bias is added last."""
    n_out, n_in = w.shape
    zero = vsplat(x.dtype.type(0))
    n_chunks = (n_in + LANES - 1) // LANES
    for o in range(n_out):
        for k in range(LANES):
            acc = zero
            for i in range(k, n_chunks * LANES, LANES):
                if i < n_in:
                    acc = acc + vbroadcast(w, o * n_in + i) * vload(x, i * LANES)
                else:
                    acc = acc + zero
            vstore(part, k * LANES, acc)
        half = LANES // 2
        while half >= 1:
            for k in range(half):
                vstore(part, k * LANES, vload(part, k * LANES) + vload(part, (k + half) * LANES))
            half //= 2
        vstore(y, o * LANES, vsplat(b[o]) + vload(part, 0))
