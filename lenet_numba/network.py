"""The compiled engine: forward and backward of one sample over a network's plan.

The plan (see architectures.build) is an int64 table, one row per layer; these functions
walk it and call the layer kernels on views of three flat buffers:

  params (n_params,)   all parameters, laid out by the plan
  acts   (n_acts,)     input, padded inputs and every layer's output (post-activation)
  dacts  (n_acts,)     dL/d(acts); a layer's output slot holds dL/d(pre-activation)
                       after its activation_backward
  grads  (n_params,)   dL/d(params) of the last sample (overwritten, never accumulated)

Views of contiguous slices allocate nothing, so the per-sample path is allocation-free.
"""

from numba import njit

from .architectures import (ACT, B_OFF, BIAS_PER_UNIT, COMPUTE_DX, CONN_OFF, CONV, DENSE, IN_C, IN_H,
                            IN_OFF, IN_W, K, KIND, N_CONN, OUT_C, OUT_H, OUT_OFF, OUT_W, PAD, PAD_OFF,
                            STRIDE, SUBSAMPLE, W_OFF)
from .kernels.activations import activation_backward, activation_forward
from .kernels.conv import conv2d_backward, conv2d_forward, pad_backward, pad_forward
from .kernels.dense import dense_backward, dense_forward
from .kernels.losses import loss_forward_backward
from .kernels.subsample import subsample_backward, subsample_forward


@njit(cache=True)
def _conv_views(row, conn, params, buf):
    """(padded input or input, weights, connection table) views for a conv row."""
    C, H, W, p = row[IN_C], row[IN_H], row[IN_W], row[PAD]
    if p > 0:
        n = C * (H + 2 * p) * (W + 2 * p)
        src = buf[row[PAD_OFF]:row[PAD_OFF] + n].reshape((C, H + 2 * p, W + 2 * p))
    else:
        src = buf[row[IN_OFF]:row[IN_OFF] + C * H * W].reshape((C, H, W))
    Co, nc, k = row[OUT_C], row[N_CONN], row[K]
    w = params[row[W_OFF]:row[W_OFF] + Co * nc * k * k].reshape((Co, nc, k, k))
    table = conn[row[CONN_OFF]:row[CONN_OFF] + Co * nc].reshape((Co, nc))
    return src, w, table


@njit(cache=True)
def forward(table, pad_values, conn, params, acts):
    """acts[input] must hold the sample; fills every layer's output."""
    for li in range(table.shape[0]):
        row = table[li]
        C, H, W = row[IN_C], row[IN_H], row[IN_W]
        Co, Ho, Wo = row[OUT_C], row[OUT_H], row[OUT_W]
        x = acts[row[IN_OFF]:row[IN_OFF] + C * H * W]
        y = acts[row[OUT_OFF]:row[OUT_OFF] + Co * Ho * Wo]
        kind = row[KIND]
        if kind == CONV:
            p = row[PAD]
            if p > 0:
                xp = acts[row[PAD_OFF]:row[PAD_OFF] + C * (H + 2 * p) * (W + 2 * p)]
                pad_forward(x.reshape((C, H, W)), p, pad_values[li], xp.reshape((C, H + 2 * p, W + 2 * p)))
            src, w, tbl = _conv_views(row, conn, params, acts)
            nb = Co * Ho * Wo if row[BIAS_PER_UNIT] else Co
            b = params[row[B_OFF]:row[B_OFF] + nb]
            conv2d_forward(src, w, b, tbl, row[STRIDE], row[BIAS_PER_UNIT] != 0, y.reshape((Co, Ho, Wo)))
        elif kind == SUBSAMPLE:
            alpha = params[row[W_OFF]:row[W_OFF] + C]
            beta = params[row[B_OFF]:row[B_OFF] + C]
            subsample_forward(x.reshape((C, H, W)), alpha, beta, y.reshape((Co, Ho, Wo)))
        else:
            n_in = C * H * W
            w = params[row[W_OFF]:row[W_OFF] + Co * n_in].reshape((Co, n_in))
            b = params[row[B_OFF]:row[B_OFF] + Co]
            dense_forward(x, w, b, y)
        activation_forward(row[ACT], y)


@njit(cache=True)
def backward(table, conn, params, acts, dacts, grads):
    """dacts[last output] must hold dL/dy; fills grads (and dacts) layer by layer."""
    for li in range(table.shape[0] - 1, -1, -1):
        row = table[li]
        C, H, W = row[IN_C], row[IN_H], row[IN_W]
        Co, Ho, Wo = row[OUT_C], row[OUT_H], row[OUT_W]
        n_out = Co * Ho * Wo
        y = acts[row[OUT_OFF]:row[OUT_OFF] + n_out]
        dy = dacts[row[OUT_OFF]:row[OUT_OFF] + n_out]
        activation_backward(row[ACT], y, dy)  # dy now holds dL/d(pre-activation)
        x = acts[row[IN_OFF]:row[IN_OFF] + C * H * W]
        dx = dacts[row[IN_OFF]:row[IN_OFF] + C * H * W]
        compute_dx = row[COMPUTE_DX] != 0
        kind = row[KIND]
        if kind == CONV:
            p = row[PAD]
            src, w, tbl = _conv_views(row, conn, params, acts)
            dsrc, _, _ = _conv_views(row, conn, params, dacts)
            nw = w.size
            nb = n_out if row[BIAS_PER_UNIT] else Co
            dw = grads[row[W_OFF]:row[W_OFF] + nw].reshape(w.shape)
            db = grads[row[B_OFF]:row[B_OFF] + nb]
            conv2d_backward(src, w, tbl, row[STRIDE], row[BIAS_PER_UNIT] != 0, dy.reshape((Co, Ho, Wo)),
                            dsrc, dw, db, compute_dx)
            if compute_dx and p > 0:
                pad_backward(dsrc, p, dx.reshape((C, H, W)))
        elif kind == SUBSAMPLE:
            alpha = params[row[W_OFF]:row[W_OFF] + C]
            subsample_backward(x.reshape((C, H, W)), alpha, dy.reshape((Co, Ho, Wo)), dx.reshape((C, H, W)),
                               grads[row[W_OFF]:row[W_OFF] + C], grads[row[B_OFF]:row[B_OFF] + C], compute_dx)
        else:
            n_in = C * H * W
            w = params[row[W_OFF]:row[W_OFF] + Co * n_in].reshape((Co, n_in))
            dense_backward(x, w, dy, dx, grads[row[W_OFF]:row[W_OFF] + Co * n_in].reshape((Co, n_in)),
                           grads[row[B_OFF]:row[B_OFF] + Co], compute_dx)


@njit(cache=True)
def load_input(image, acts):
    """Copy one (H, W) image into the input slot at the start of acts."""
    H, W = image.shape
    for r in range(H):
        for q in range(W):
            acts[r * W + q] = image[r, q]


@njit(cache=True)
def sample_loss_and_grad(table, pad_values, conn, params, acts, dacts, grads, image, label, loss_kind):
    """Forward, loss and backward of one sample; returns the loss, leaves dL/dparams in grads."""
    load_input(image, acts)
    forward(table, pad_values, conn, params, acts)
    last = table[table.shape[0] - 1]
    n_out = last[OUT_C] * last[OUT_H] * last[OUT_W]
    y = acts[last[OUT_OFF]:last[OUT_OFF] + n_out]
    loss = loss_forward_backward(loss_kind, y, label, dacts[last[OUT_OFF]:last[OUT_OFF] + n_out])
    backward(table, conn, params, acts, dacts, grads)
    return loss
