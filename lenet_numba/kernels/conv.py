"""2-D cross-correlation layer: forward/backward pair, and the second-order backward.

Cross-correlation, not convolution: the kernel is never flipped, like torch's conv2d.
Padding is its own step (kernels/pad.py), so these kernels only ever see a "valid"
problem; the 1989 zip-code net pads with -1 (background), LeNet-1 with 0.

Shapes (one sample, no batch dimension):
  x     (C_in, H, W)           input, already padded
  w     (C_out, n_conn, K, K)  w[o, j] is the kernel applied to input map conn[o, j]
  conn  (C_out, n_conn) int    connection table; a full layer has conn[o, j] = j
  b     (C_out,)               one bias per map, or
        (C_out * H_out * W_out,) one bias per unit (bias_per_unit=True, 1989 net)
  y     (C_out, H_out, W_out)  H_out = (H - K) // stride + 1

Each function below is the plain loop that defines the layer (``*_loops``), and the entry
point that runs a vectorized path computing the same sums when the arguments are
C-contiguous and the layer fits its scratch: kernels/conv_wide.py for wide output rows
(stride 1, W_out >= 16), kernels/conv_small.py and conv_small_backward.py for small maps.
The small-map paths are compiled for 5x5 kernels (every network here) and nothing else:
each compiled variant lengthens a cold start, so other sizes run the plain loops.
"""

import numpy as np
from numba import carray

from ..jit_cache import njit
from .conv_small import conv2d_forward_small, forward_fits
from .conv_small_backward import backward_fits, conv2d_backward_small
from .conv_wide import conv2d_backward_wide, conv2d_forward_wide
from .simd import LANES, flat_view, stack_ptr, vhsum, vload_n, vsplat, vstore_n

GN_SCRATCH = 8192  # elements of stack scratch for the second-order backward's squares


@njit(cache=True, inline="always")
def conv2d_forward(x, w, b, conn, stride, bias_per_unit, y):
    C_out, n_conn, K, _ = w.shape
    C_in = x.shape[0]
    _, H_out, W_out = y.shape
    contiguous = x.flags.c_contiguous and w.flags.c_contiguous and b.flags.c_contiguous and y.flags.c_contiguous
    if contiguous and stride == 1 and W_out >= LANES:
        conv2d_forward_wide(x, w, b, conn, bias_per_unit, y)
    elif contiguous and forward_fits(C_in, K, H_out, W_out):
        conv2d_forward_small(x, w, b, conn, stride, bias_per_unit, y)
    else:
        conv2d_forward_loops(x, w, b, conn, stride, bias_per_unit, y)


@njit(cache=True, inline="always")
def conv2d_forward_loops(x, w, b, conn, stride, bias_per_unit, y):
    C_out, n_conn, K, _ = w.shape
    _, H_out, W_out = y.shape
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


@njit(cache=True, inline="always")
def conv2d_backward(x, w, conn, stride, bias_per_unit, dy, dx, dw, db, compute_dx):
    """Overwrites dw, db and (if compute_dx) dx with the gradients of one sample."""
    C_out, n_conn, K, _ = w.shape
    C_in = x.shape[0]
    _, H_out, W_out = dy.shape
    contiguous = (x.flags.c_contiguous and w.flags.c_contiguous and dy.flags.c_contiguous
                  and dx.flags.c_contiguous and dw.flags.c_contiguous and db.flags.c_contiguous)
    if contiguous and stride == 1 and W_out >= LANES:
        bias_backward(dy, bias_per_unit, db)
        conv2d_backward_wide(x, w, conn, dy, dx, dw, compute_dx)
    elif contiguous and backward_fits(C_in, C_out, n_conn, K, H_out, W_out):
        bias_backward(dy, bias_per_unit, db)
        conv2d_backward_small(x, w, conn, stride, dy, dx, dw, compute_dx)
    else:
        conv2d_backward_loops(x, w, conn, stride, bias_per_unit, dy, dx, dw, db, compute_dx)


@njit(cache=True, inline="always")
def bias_backward(dy, bias_per_unit, db):
    """y[o,oy,ox] = b[o] + ...  ->  db[o] = sum dy[o] (16 partial sums, a fixed tree), or
    db[unit] = dy[unit]; dy and db C-contiguous."""
    C_out, H_out, W_out = dy.shape
    P = H_out * W_out
    for o in range(C_out):
        if bias_per_unit:
            for p0 in range(0, P, LANES):
                n = min(LANES, P - p0)
                vstore_n(db, o * P + p0, vload_n(dy, o * P + p0, n), n)
        else:
            acc = vsplat(dy.dtype.type(0))
            for p0 in range(0, P, LANES):
                acc = acc + vload_n(dy, o * P + p0, min(LANES, P - p0))
            db[o] = vhsum(acc)


@njit(cache=True, inline="always")
def conv2d_backward_loops(x, w, conn, stride, bias_per_unit, dy, dx, dw, db, compute_dx):
    C_out, n_conn, K, _ = w.shape
    _, H_out, W_out = dy.shape
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

    These are conv2d_backward's sums with x^2 and w^2 in place of x and w, so that is what
    runs (its vectorized paths), in d2a's precision, on squares held in stack scratch.
    """
    n_x, n_w, n_b = x.size, w.size, hb.size
    n = n_x + 2 * n_w + n_b
    if n <= GN_SCRATCH:
        buf = carray(stack_ptr(GN_SCRATCH, d2a.dtype), (GN_SCRATCH,))
    else:  # larger than any layer of these networks
        buf = np.empty(n, d2a.dtype)
    xx = flat_view(buf, 0, x.shape)
    ww = flat_view(buf, n_x, w.shape)
    dw = flat_view(buf, n_x + n_w, w.shape)
    db = flat_view(buf, n_x + 2 * n_w, n_b)
    # x^2 exactly (a float32 square fits a float64), w^2 rounded to w's precision: the
    # products the earlier plain loops formed, so SDLM's step sizes stay bit for bit
    _square(x, flat_view(buf, 0, n_x), False)
    _square(w, flat_view(buf, n_x, n_w), True)
    conv2d_backward(xx, ww, conn, stride, bias_per_unit, d2a, d2x, dw, db, compute_dx)
    for k in range(n_b):
        hb[k] += db[k]
    C_out, n_conn, K, _ = w.shape
    for o in range(C_out):
        for j in range(n_conn):
            for ky in range(K):
                for kx in range(K):
                    hw[o, j, ky, kx] += dw[o, j, ky, kx]


@njit(cache=True, inline="always")
def _square(a, out, in_own_precision):
    """out (1-D, C-contiguous) = a * a elementwise in C order, rounded to a's precision
    first if in_own_precision, else computed in out's."""
    t = out.dtype.type
    k = 0
    for v in a.flat:
        if in_own_precision:
            out[k] = t(v * v)
        else:
            u = t(v)
            out[k] = u * u
        k += 1
