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
