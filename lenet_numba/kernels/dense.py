"""Fully connected layer: forward/backward pair.

Shapes (one sample):
  x (n_in,)   w (n_out, n_in)  (torch's Linear layout)   b (n_out,)   y (n_out,)
"""

from numba import njit


@njit(cache=True)
def dense_forward(x, w, b, y):
    n_out, n_in = w.shape
    for o in range(n_out):
        s = b[o]
        for i in range(n_in):
            s += w[o, i] * x[i]
        y[o] = s


@njit(cache=True)
def dense_backward(x, w, dy, dx, dw, db, compute_dx):
    """Overwrites dw, db and (if compute_dx) dx with one sample's gradients."""
    n_out, n_in = w.shape
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
