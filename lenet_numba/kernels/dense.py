"""Fully connected layer: forward/backward pair.

Shapes (one sample):
  x (n_in,)   w (n_out, n_in)  (torch's Linear layout)   b (n_out,)   y (n_out,)
"""

from ..jit_cache import njit
from .simd import LANES, vhsum, vload_n, vsplat, vstore_n


@njit(cache=True)
def dense_forward(x, w, b, y):
    n_out, n_in = w.shape
    if x.flags.c_contiguous and w.flags.c_contiguous:
        # the dot products on 16-lane vectors, four rows of w at a time (four independent
        # add chains; an incomplete last block repeats row n_out - 1), each summed in a
        # fixed tree: a scalar float reduction would not vectorize without fastmath
        zero = x.dtype.type(0)
        for o0 in range(0, n_out, 4):
            o1 = min(o0 + 1, n_out - 1)
            o2 = min(o0 + 2, n_out - 1)
            o3 = min(o0 + 3, n_out - 1)
            a0 = a1 = a2 = a3 = vsplat(zero)
            for i0 in range(0, n_in, LANES):
                n = min(LANES, n_in - i0)
                xv = vload_n(x, i0, n)
                a0 = a0 + vload_n(w, o0 * n_in + i0, n) * xv
                a1 = a1 + vload_n(w, o1 * n_in + i0, n) * xv
                a2 = a2 + vload_n(w, o2 * n_in + i0, n) * xv
                a3 = a3 + vload_n(w, o3 * n_in + i0, n) * xv
            y[o0] = b[o0] + vhsum(a0)
            y[o1] = b[o1] + vhsum(a1)
            y[o2] = b[o2] + vhsum(a2)
            y[o3] = b[o3] + vhsum(a3)
        return
    for o in range(n_out):
        s = b[o]
        for i in range(n_in):
            s += w[o, i] * x[i]
        y[o] = s


@njit(cache=True)
def dense_backward(x, w, dy, dx, dw, db, compute_dx):
    """Overwrites dw, db and (if compute_dx) dx with one sample's gradients."""
    n_out, n_in = w.shape
    if (x.flags.c_contiguous and w.flags.c_contiguous and dw.flags.c_contiguous and dx.flags.c_contiguous):
        # the loops below on 16-lane vectors along i: each dx[i] still adds its terms over
        # o in order, starting from 0
        for o in range(n_out):
            g = dy[o]
            db[o] = g
            for i0 in range(0, n_in, LANES):
                n = min(LANES, n_in - i0)
                vstore_n(dw, o * n_in + i0, vload_n(x, i0, n) * g, n)
        if compute_dx:
            for i0 in range(0, n_in, LANES):
                n = min(LANES, n_in - i0)
                acc = vsplat(x.dtype.type(0))
                for o in range(n_out):
                    acc = acc + vload_n(w, o * n_in + i0, n) * dy[o]
                vstore_n(dx, i0, acc, n)
        return
    # y[o] = b[o] + sum_i w[o,i] x[i]  ->  db[o] = dy[o], dw[o,i] = dy[o] x[i]
    for o in range(n_out):
        g = dy[o]
        db[o] = g
        for i in range(n_in):
            dw[o, i] = g * x[i]
    if compute_dx:
        #   ->  dx[i] = sum_o w[o,i] dy[o]   (rows of w are contiguous: accumulate row-wise)
        dx[:] = 0.0
        for o in range(n_out):
            g = dy[o]
            for i in range(n_in):
                dx[i] += w[o, i] * g


@njit(cache=True)
def dense_backward_gn(x, w, d2a, d2x, hw, hb, compute_dx):
    """Second-order (diagonal Gauss-Newton) backward of one sample, for SDLM.

    d2a (n_out,) is d2E/da^2 at this layer's pre-activation. Accumulates (+=)
    hw[o,i] += d2a[o] x[i]^2 and hb[o] += d2a[o] (the bias's input is the constant 1), and
    overwrites d2x[i] = sum_o w[o,i]^2 d2a[o] if compute_dx.
    """
    n_out, n_in = w.shape
    for o in range(n_out):
        g = d2a[o]
        hb[o] += g
        for i in range(n_in):
            hw[o, i] += g * x[i] * x[i]
    if compute_dx:
        d2x[:] = 0.0
        for o in range(n_out):
            g = d2a[o]
            for i in range(n_in):
                d2x[i] += w[o, i] * w[o, i] * g
