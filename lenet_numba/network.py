"""The compiled engine: forward and backward of one sample over a network's plan.

The plan (see architectures.build) is an int64 table, one row per layer; these functions
walk it and call the layer kernels on views of three flat buffers:

  params (n_params,)   all parameters, laid out by the plan
  acts   (n_acts,)     input, padded inputs and every layer's output (post-activation)
  dacts  (n_acts,)     dL/d(acts); a layer's output slot holds dL/d(pre-activation)
                       after its activation_backward
  grads  (n_params,)   dL/d(params) of the last sample (overwritten, never accumulated)

Views of contiguous slices allocate nothing, so the per-sample path is allocation-free;
they are made with kernels.simd.flat_view (a view with no reference count and no reshape
call: the plain slice-and-reshape cost ~2 us per LeNet-1 sample, a sixth of it).
"""

from .jit_cache import njit

from .architectures import (ACT, B_OFF, BIAS_PER_UNIT, COMPUTE_DX, CONN_OFF, CONV, IN_C, IN_H,
                            IN_OFF, IN_W, K, KIND, N_CONN, OUT_C, OUT_H, OUT_OFF, OUT_W, PAD, PAD_OFF,
                            STRIDE, SUBSAMPLE, W_OFF)
from .kernels.activations import activation_backward, activation_forward
from .kernels.conv import conv2d_backward, conv2d_forward, pad_backward, pad_forward
from .kernels.dense import dense_backward, dense_forward
from .kernels.losses import loss_forward_backward
from .kernels.subsample import subsample_backward, subsample_forward
from .kernels.simd import flat_view


@njit(cache=True)
def _conv_views(row, conn, params, buf):
    """(padded input or input, weights, connection table) views for a conv row."""
    C, H, W, p = row[IN_C], row[IN_H], row[IN_W], row[PAD]
    if p > 0:
        src = flat_view(buf, row[PAD_OFF], (C, H + 2 * p, W + 2 * p))
    else:
        src = flat_view(buf, row[IN_OFF], (C, H, W))
    Co, nc, k = row[OUT_C], row[N_CONN], row[K]
    w = flat_view(params, row[W_OFF], (Co, nc, k, k))
    table = flat_view(conn, row[CONN_OFF], (Co, nc))
    return src, w, table


@njit(cache=True)
def forward(table, pad_values, conn, params, acts):
    """acts[input] must hold the sample; fills every layer's output."""
    for li in range(table.shape[0]):
        row = flat_view(table, li * table.shape[1], table.shape[1])
        C, H, W = row[IN_C], row[IN_H], row[IN_W]
        Co, Ho, Wo = row[OUT_C], row[OUT_H], row[OUT_W]
        kind = row[KIND]
        if kind == CONV:
            p = row[PAD]
            if p > 0:
                pad_forward(flat_view(acts, row[IN_OFF], (C, H, W)), p, pad_values[li],
                            flat_view(acts, row[PAD_OFF], (C, H + 2 * p, W + 2 * p)))
            src, w, tbl = _conv_views(row, conn, params, acts)
            nb = Co * Ho * Wo if row[BIAS_PER_UNIT] else Co
            conv2d_forward(src, w, flat_view(params, row[B_OFF], nb), tbl, row[STRIDE], row[BIAS_PER_UNIT] != 0,
                           flat_view(acts, row[OUT_OFF], (Co, Ho, Wo)))
        elif kind == SUBSAMPLE:
            subsample_forward(flat_view(acts, row[IN_OFF], (C, H, W)), flat_view(params, row[W_OFF], C),
                              flat_view(params, row[B_OFF], C), flat_view(acts, row[OUT_OFF], (Co, Ho, Wo)))
        else:
            n_in = C * H * W
            dense_forward(flat_view(acts, row[IN_OFF], n_in), flat_view(params, row[W_OFF], (Co, n_in)),
                          flat_view(params, row[B_OFF], Co), flat_view(acts, row[OUT_OFF], Co))
        activation_forward(row[ACT], flat_view(acts, row[OUT_OFF], Co * Ho * Wo))


@njit(cache=True)
def backward(table, conn, params, acts, dacts, grads):
    """dacts[last output] must hold dL/dy; fills grads (and dacts) layer by layer."""
    for li in range(table.shape[0] - 1, -1, -1):
        row = flat_view(table, li * table.shape[1], table.shape[1])
        C, H, W = row[IN_C], row[IN_H], row[IN_W]
        Co, Ho, Wo = row[OUT_C], row[OUT_H], row[OUT_W]
        n_out = Co * Ho * Wo
        dy = flat_view(dacts, row[OUT_OFF], n_out)
        activation_backward(row[ACT], flat_view(acts, row[OUT_OFF], n_out), dy)  # dy: dL/d(pre-activation)
        compute_dx = row[COMPUTE_DX] != 0
        kind = row[KIND]
        if kind == CONV:
            p = row[PAD]
            src, w, tbl = _conv_views(row, conn, params, acts)
            dsrc, _, _ = _conv_views(row, conn, params, dacts)
            nb = n_out if row[BIAS_PER_UNIT] else Co
            conv2d_backward(src, w, tbl, row[STRIDE], row[BIAS_PER_UNIT] != 0, flat_view(dacts, row[OUT_OFF], (Co, Ho, Wo)),
                            dsrc, flat_view(grads, row[W_OFF], w.shape), flat_view(grads, row[B_OFF], nb), compute_dx)
            if compute_dx and p > 0:
                pad_backward(dsrc, p, flat_view(dacts, row[IN_OFF], (C, H, W)))
        elif kind == SUBSAMPLE:
            subsample_backward(flat_view(acts, row[IN_OFF], (C, H, W)), flat_view(params, row[W_OFF], C),
                               flat_view(dacts, row[OUT_OFF], (Co, Ho, Wo)), flat_view(dacts, row[IN_OFF], (C, H, W)),
                               flat_view(grads, row[W_OFF], C), flat_view(grads, row[B_OFF], C), compute_dx)
        else:
            n_in = C * H * W
            dense_backward(flat_view(acts, row[IN_OFF], n_in), flat_view(params, row[W_OFF], (Co, n_in)), dy,
                           flat_view(dacts, row[IN_OFF], n_in), flat_view(grads, row[W_OFF], (Co, n_in)),
                           flat_view(grads, row[B_OFF], Co), compute_dx)


@njit(cache=True)
def load_input(image, acts):
    """Copy one (H, W) image into the input slot at the start of acts."""
    H, W = image.shape
    for r in range(H):
        for q in range(W):
            acts[r * W + q] = image[r, q]


@njit(cache=True)
def sample_loss_and_grad(table, pad_values, conn, params, acts, dacts, grads, image, label, loss_kind,
                         smoothing=0.0):
    """Forward, loss and backward of one sample; returns the loss, leaves dL/dparams in grads.
    smoothing: CE label smoothing (kernels/losses.py; 0 = plain CE)."""
    load_input(image, acts)
    forward(table, pad_values, conn, params, acts)
    li = table.shape[0] - 1
    n_out = table[li, OUT_C] * table[li, OUT_H] * table[li, OUT_W]
    loss = loss_forward_backward(loss_kind, flat_view(acts, table[li, OUT_OFF], n_out), label,
                                 flat_view(dacts, table[li, OUT_OFF], n_out), smoothing)
    backward(table, conn, params, acts, dacts, grads)
    return loss


# ---- second order: diagonal Gauss-Newton curvature for SDLM -------------------------
# Same plan walk as backward, with the second-order kernels: d2acts takes the place of
# dacts and holds d2E/d(acts)^2 (a layer's output slot holds d2E/d(pre-activation)^2 after
# activation_backward_gn), and h (n_params,) is accumulated (+=), never overwritten, so
# an average over samples is a plain loop (estimate_curvature). h and d2acts may be float64
# while params/acts are float32.
from .kernels.activations import activation_backward_gn  # noqa: E402
from .kernels.conv import conv2d_backward_gn  # noqa: E402
from .kernels.dense import dense_backward_gn  # noqa: E402
from .kernels.losses import loss_curvature  # noqa: E402
from .kernels.subsample import subsample_backward_gn  # noqa: E402


@njit(cache=True)
def backward_gn(table, conn, params, acts, d2acts, h):
    """d2acts[last output] must hold d2E/dy^2 (>= 0); adds this sample's h_kk into h.

    h_kk = sum over the connections (i, j) sharing parameter k of d2E/da_i^2 x_j^2, with
    d2E/da_i^2 = f'(a_i)^2 sum_k w_ki^2 d2E/da_k^2 (LeCun et al. 1998, App. C).
    """
    for li in range(table.shape[0] - 1, -1, -1):
        row = table[li]
        C, H, W = row[IN_C], row[IN_H], row[IN_W]
        Co, Ho, Wo = row[OUT_C], row[OUT_H], row[OUT_W]
        n_out = Co * Ho * Wo
        y = acts[row[OUT_OFF]:row[OUT_OFF] + n_out]
        d2y = d2acts[row[OUT_OFF]:row[OUT_OFF] + n_out]
        activation_backward_gn(row[ACT], y, d2y)  # d2y now holds d2E/d(pre-activation)^2
        x = acts[row[IN_OFF]:row[IN_OFF] + C * H * W]
        d2x = d2acts[row[IN_OFF]:row[IN_OFF] + C * H * W]
        compute_dx = row[COMPUTE_DX] != 0
        kind = row[KIND]
        if kind == CONV:
            p = row[PAD]
            src, w, tbl = _conv_views(row, conn, params, acts)
            d2src, _, _ = _conv_views(row, conn, params, d2acts)
            nb = n_out if row[BIAS_PER_UNIT] else Co
            hw = h[row[W_OFF]:row[W_OFF] + w.size].reshape(w.shape)
            hb = h[row[B_OFF]:row[B_OFF] + nb]
            conv2d_backward_gn(src, w, tbl, row[STRIDE], row[BIAS_PER_UNIT] != 0, d2y.reshape((Co, Ho, Wo)),
                               d2src, hw, hb, compute_dx)
            if compute_dx and p > 0:
                pad_backward(d2src, p, d2x.reshape((C, H, W)))
        elif kind == SUBSAMPLE:
            alpha = params[row[W_OFF]:row[W_OFF] + C]
            subsample_backward_gn(x.reshape((C, H, W)), alpha, d2y.reshape((Co, Ho, Wo)), d2x.reshape((C, H, W)),
                                  h[row[W_OFF]:row[W_OFF] + C], h[row[B_OFF]:row[B_OFF] + C], compute_dx)
        else:
            n_in = C * H * W
            w = params[row[W_OFF]:row[W_OFF] + Co * n_in].reshape((Co, n_in))
            dense_backward_gn(x, w, d2y, d2x, h[row[W_OFF]:row[W_OFF] + Co * n_in].reshape((Co, n_in)),
                              h[row[B_OFF]:row[B_OFF] + Co], compute_dx)


@njit(cache=True)
def sample_curvature(table, pad_values, conn, params, acts, d2acts, h, image, loss_kind):
    """Forward of one sample, the loss's output curvature, backward_gn: h += this sample's h_kk."""
    load_input(image, acts)
    forward(table, pad_values, conn, params, acts)
    last = table[table.shape[0] - 1]
    n_out = last[OUT_C] * last[OUT_H] * last[OUT_W]
    y = acts[last[OUT_OFF]:last[OUT_OFF] + n_out]
    loss_curvature(loss_kind, y, d2acts[last[OUT_OFF]:last[OUT_OFF] + n_out])
    backward_gn(table, conn, params, acts, d2acts, h)


@njit(cache=True)
def estimate_curvature(table, pad_values, conn, params, acts, dacts, h, images, indices, loss_kind):
    """h <- (1/P) sum over the P samples images[indices] of their h_kk (overwrites h).

    dacts is the second-order work buffer (d2acts). No labels: neither curvature (MSE:
    2/K, CE: p(1-p)) depends on them.
    """
    h[:] = 0.0
    P = indices.shape[0]
    for n in range(P):
        sample_curvature(table, pad_values, conn, params, acts, dacts, h, images[indices[n]], loss_kind)
    if P > 0:
        for k in range(h.shape[0]):
            h[k] /= P
