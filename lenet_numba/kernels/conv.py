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
"""

from numba import njit


@njit(cache=True)
def conv2d_forward(x, w, b, conn, stride, bias_per_unit, y):
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
                        # innermost along a contiguous output row: vectorizes
                        for ox in range(W_out):
                            y[o, oy, ox] += wv * x[i, iy, ox * stride + kx]


@njit(cache=True)
def conv2d_backward(x, w, conn, stride, bias_per_unit, dy, dx, dw, db, compute_dx):
    """Overwrites dw, db and (if compute_dx) dx with the gradients of one sample."""
    C_out, n_conn, K, _ = w.shape
    _, H_out, W_out = dy.shape
    # y[o,oy,ox] = b[o] + ...  ->  db[o] = sum dy[o]   (or db[unit] = dy[unit])
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
def pad_forward(x, pad, value, xp):
    """xp (C, H+2p, W+2p) = x (C, H, W) surrounded by `pad` rows/columns of `value`."""
    C, H, W = x.shape
    xp[:] = value
    for c in range(C):
        for r in range(H):
            for q in range(W):
                xp[c, r + pad, q + pad] = x[c, r, q]


@njit(cache=True)
def pad_backward(dxp, pad, dx):
    """The border is a constant, so only the interior gradient flows back."""
    C, H, W = dx.shape
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
