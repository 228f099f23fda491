"""2x2 subsampling with a learnable coefficient and bias per map (LeNet-1's S1, S2).

    y[c, i, j] = alpha[c] * mean(x[c, 2i:2i+2, 2j:2j+2]) + beta[c]

The activation (tanh) is applied afterwards by the activation kernels.

The forward on C-contiguous arrays (the engine's) runs 8 outputs of a row at a time on
16-lane vectors (kernels/simd.py), each output's arithmetic the plain loops' own, in the
same types and order: the same bits. The backward stays plain loops: its cost is the
serial float64 sums of dalpha and dbeta, which the core overlaps with the next layer's
work in a training step (a vector version, 35% faster alone, was no faster in training).

Shapes (one sample):
  x      (C, H, W)
  alpha  (C,)   beta (C,)
  y      (C, H // 2, W // 2)    an odd last row/column is dropped, like avg_pool2d
"""

import numpy as np

from ..jit_cache import njit
from .simd import vload, vstore_n
from .simd_lanes import vcast_like, vevens_odds

ROW = 8  # outputs per vector step: 2 * ROW inputs fill the 16 lanes. Only rows of whole
# steps (LeNet-1's S1) take the vector path, so no step needs a mask; shorter or ragged
# rows (LeNet-1's S2, the NIPS net's) measured no faster on it


@njit(cache=True, inline="always")
def block_sum(x, c, i, j):
    """x[c, 2i:2i+2, 2j:2j+2].sum(), always in this order (so every caller rounds alike)."""
    return x[c, 2 * i, 2 * j] + x[c, 2 * i, 2 * j + 1] + x[c, 2 * i + 1, 2 * j] + x[c, 2 * i + 1, 2 * j + 1]


@njit(cache=True, inline="always")
def fill_block(dx, c, i, j, d):
    """dx[c, 2i:2i+2, 2j:2j+2] = d (each input of a 2x2 mean gets the same share)."""
    dx[c, 2 * i, 2 * j] = d
    dx[c, 2 * i, 2 * j + 1] = d
    dx[c, 2 * i + 1, 2 * j] = d
    dx[c, 2 * i + 1, 2 * j + 1] = d


@njit(cache=True, inline="always")
def zero_uncovered(dx, c, H_out, W_out):
    """dx[c] = 0 on an odd last row/column: it did not reach y."""
    H, W = dx.shape[1], dx.shape[2]
    for r in range(2 * H_out, H):
        for q in range(W):
            dx[c, r, q] = 0.0
    for r in range(2 * H_out):
        for q in range(2 * W_out, W):
            dx[c, r, q] = 0.0


@njit(cache=True, inline="always")
def block_sums(x, c, i, j0):
    """Lane k < ROW: block_sum(x, c, i, j0 + k), added in block_sum's order (x C-contiguous;
    lanes ROW.. are 0). Each input row is one whole-vector load split into its even and
    odd lanes."""
    H, W = x.shape[1], x.shape[2]
    r0 = (c * H + 2 * i) * W + 2 * j0
    x00, x01 = vevens_odds(vload(x, r0))
    x10, x11 = vevens_odds(vload(x, r0 + W))
    return ((x00 + x01) + x10) + x11


@njit(cache=True)
def subsample_forward(x, alpha, beta, y):
    C, H_out, W_out = y.shape
    if W_out % ROW == 0 and x.flags.c_contiguous and y.flags.c_contiguous:
        for c in range(C):
            a = alpha[c] * 0.25
            b = np.float64(beta[c])
            for i in range(H_out):
                for j0 in range(0, W_out, ROW):
                    # y = a * s + beta, in float64 as below, rounded once to y's type
                    v = vcast_like(block_sums(x, c, i, j0), a) * a + b
                    vstore_n(y, (c * H_out + i) * W_out + j0, vcast_like(v, y.dtype.type(0)), ROW)
        return
    for c in range(C):
        a = alpha[c] * 0.25
        for i in range(H_out):
            for j in range(W_out):
                s = block_sum(x, c, i, j)
                y[c, i, j] = a * s + beta[c]


@njit(cache=True)
def subsample_backward(x, alpha, dy, dx, dalpha, dbeta, compute_dx):
    """Overwrites dalpha, dbeta and (if compute_dx) dx with one sample's gradients."""
    C, H_out, W_out = dy.shape
    for c in range(C):
        ga = 0.0
        gb = 0.0
        a = alpha[c] * 0.25
        for i in range(H_out):
            for j in range(W_out):
                g = dy[c, i, j]
                s = block_sum(x, c, i, j)
                # y = alpha * mean + beta  ->  dalpha += dy * mean, dbeta += dy
                ga += g * (s * 0.25)
                gb += g
                if compute_dx:
                    # y = (alpha / 4) * (x00 + x01 + x10 + x11)  ->  dx = alpha / 4 * dy
                    fill_block(dx, c, i, j, a * g)
        dalpha[c] = ga
        dbeta[c] = gb
        if compute_dx:
            zero_uncovered(dx, c, H_out, W_out)


@njit(cache=True)
def subsample_backward_gn(x, alpha, d2a, d2x, halpha, hbeta, compute_dx):
    """Second-order (diagonal Gauss-Newton) backward of one sample, for SDLM.

    d2a (C, H_out, W_out) is d2E/da^2 at this layer's pre-activation. alpha's input is the
    2x2 mean, beta's is 1, so it accumulates (+=) halpha[c] += sum d2a * mean^2 and
    hbeta[c] += sum d2a; if compute_dx it overwrites d2x = (alpha/4)^2 d2a on each 2x2 block
    (0 on an odd last row/column).
    """
    C, H_out, W_out = d2a.shape
    for c in range(C):
        ha = 0.0
        hbt = 0.0
        a = alpha[c] * 0.25
        aa = a * a
        for i in range(H_out):
            for j in range(W_out):
                g = d2a[c, i, j]
                m = 0.25 * block_sum(x, c, i, j)
                ha += g * m * m
                hbt += g
                if compute_dx:
                    fill_block(d2x, c, i, j, aa * g)
        halpha[c] += ha
        hbeta[c] += hbt
        if compute_dx:
            zero_uncovered(d2x, c, H_out, W_out)
