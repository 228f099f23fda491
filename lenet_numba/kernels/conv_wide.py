"""Conv layers with wide output rows (stride 1, W_out >= 16: LeNet-1's first layer), on
16-lane vectors (kernels/simd.py). Shapes and arithmetic as in kernels/conv.py, whose
plain loops compute the same sums; conv.py decides which path runs.

Forward: four output rows at a time, each a 16-wide accumulator held in registers across
all the taps (four independent add chains); every tap reads contiguous input row
segments. Backward: dw as 16 partial sums along the rows, added in a fixed tree; dx a row
segment at a time.
"""

from ..jit_cache import njit
from .conv_shapes import conv_shapes
from .simd import LANES, vhsum, vload_n, vsplat, vstore_n


@njit(cache=True)
def conv2d_forward_wide(x, w, b, conn, bias_per_unit, y):
    """y (C_out, H_out, W_out) from x (C_in, Hp, Wp), all C-contiguous, stride 1."""
    C_out, n_conn, K, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, w, y)
    # a row past the map gets n = 0: nothing is read or written for it
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


@njit(cache=True)
def conv2d_backward_wide(x, w, conn, dy, dx, dw, compute_dx):
    """Overwrites dw and (if compute_dx) dx; the bias gradient is conv.py's bias_backward."""
    C_out, n_conn, K, C_in, Hp, Wp, H_out, W_out, P = conv_shapes(x, w, dy)
    zero = dy.dtype.type(0)
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
