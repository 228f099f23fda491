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

The walkers here are inlined into their callers (njit inline="always"): Numba compiles
every compiled function it calls on its own and links it again into each caller, so a
walker of its own would have its whole closure compiled once more at every level. Inlined,
only the kernels and the entry points (train.train_chunk, inference.forward_batch,
estimate_curvature, ...) are compiled: a third less of a cold start.
"""

from .jit_cache import njit

from .architectures import (ACT, B_OFF, BIAS_PER_UNIT, COMPUTE_DX, CONN_OFF, CONV, IN_C, IN_H,
                            IN_OFF, IN_W, K, KIND, N_CONN, OUT_C, OUT_H, OUT_OFF, OUT_W, PAD, PAD_OFF,
                            STRIDE, SUBSAMPLE, W_OFF)
from .kernels.activations import activation_backward, activation_backward_gn, activation_forward
from .kernels.conv import conv2d_backward, conv2d_backward_gn, conv2d_forward
from .kernels.dense import dense_backward, dense_backward_gn, dense_forward
from .kernels.losses import loss_curvature, loss_forward_backward
from .kernels.pad import pad_backward, pad_forward
from .kernels.simd import flat_view
from .kernels.subsample import subsample_backward, subsample_backward_gn, subsample_forward


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def output_view(table, buf):
    """The network's output slot (the last layer's output) of acts or dacts."""
    last = flat_view(table, (table.shape[0] - 1) * table.shape[1], table.shape[1])
    return flat_view(buf, last[OUT_OFF], last[OUT_C] * last[OUT_H] * last[OUT_W])


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def walk_backward(activation_bwd, conv_bwd, subsample_bwd, dense_bwd, table, conn, params, acts, dacts, grads):
    """The backward plan walk, last layer first, with the given layer kernels: backward's
    (dacts: dL/d(acts), grads overwritten) or backward_gn's (d2E/d(acts)^2, += into h).
    The kernels are compile-time constants here, so each caller gets its own inlined copy."""
    for li in range(table.shape[0] - 1, -1, -1):
        row = flat_view(table, li * table.shape[1], table.shape[1])
        C, H, W = row[IN_C], row[IN_H], row[IN_W]
        Co, Ho, Wo = row[OUT_C], row[OUT_H], row[OUT_W]
        n_out = Co * Ho * Wo
        dy = flat_view(dacts, row[OUT_OFF], n_out)
        activation_bwd(row[ACT], flat_view(acts, row[OUT_OFF], n_out), dy)  # dy: w.r.t. the pre-activation
        compute_dx = row[COMPUTE_DX] != 0
        kind = row[KIND]
        if kind == CONV:
            p = row[PAD]
            src, w, tbl = _conv_views(row, conn, params, acts)
            dsrc, _, _ = _conv_views(row, conn, params, dacts)
            nb = n_out if row[BIAS_PER_UNIT] else Co
            conv_bwd(src, w, tbl, row[STRIDE], row[BIAS_PER_UNIT] != 0, flat_view(dacts, row[OUT_OFF], (Co, Ho, Wo)),
                     dsrc, flat_view(grads, row[W_OFF], w.shape), flat_view(grads, row[B_OFF], nb), compute_dx)
            if compute_dx and p > 0:
                pad_backward(dsrc, p, flat_view(dacts, row[IN_OFF], (C, H, W)))
        elif kind == SUBSAMPLE:
            subsample_bwd(flat_view(acts, row[IN_OFF], (C, H, W)), flat_view(params, row[W_OFF], C),
                          flat_view(dacts, row[OUT_OFF], (Co, Ho, Wo)), flat_view(dacts, row[IN_OFF], (C, H, W)),
                          flat_view(grads, row[W_OFF], C), flat_view(grads, row[B_OFF], C), compute_dx)
        else:
            n_in = C * H * W
            dense_bwd(flat_view(acts, row[IN_OFF], n_in), flat_view(params, row[W_OFF], (Co, n_in)), dy,
                      flat_view(dacts, row[IN_OFF], n_in), flat_view(grads, row[W_OFF], (Co, n_in)),
                      flat_view(grads, row[B_OFF], Co), compute_dx)


@njit(cache=True, inline="always")
def backward(table, conn, params, acts, dacts, grads):
    """dacts[last output] must hold dL/dy; fills grads (and dacts) layer by layer."""
    walk_backward(activation_backward, conv2d_backward, subsample_backward, dense_backward,
                  table, conn, params, acts, dacts, grads)


@njit(cache=True, inline="always")
def load_input(image, acts):
    """Copy one (H, W) image into the input slot at the start of acts."""
    H, W = image.shape
    for r in range(H):
        for q in range(W):
            acts[r * W + q] = image[r, q]


@njit(cache=True, inline="always")
def sample_loss_and_grad(table, pad_values, conn, params, acts, dacts, grads, image, label, loss_kind,
                         smoothing=0.0):
    """Forward, loss and backward of one sample; returns the loss, leaves dL/dparams in grads.
    smoothing: CE label smoothing (kernels/losses.py; 0 = plain CE)."""
    load_input(image, acts)
    forward(table, pad_values, conn, params, acts)
    loss = loss_forward_backward(loss_kind, output_view(table, acts), label, output_view(table, dacts), smoothing)
    backward(table, conn, params, acts, dacts, grads)
    return loss


# ---- second order: diagonal Gauss-Newton curvature for SDLM -------------------------
# The same plan walk as backward (walk_backward), with the second-order kernels: d2acts takes the place of
# dacts and holds d2E/d(acts)^2 (a layer's output slot holds d2E/d(pre-activation)^2 after
# activation_backward_gn), and h (n_params,) is accumulated (+=), never overwritten, so
# an average over samples is a plain loop (estimate_curvature). h and d2acts are float64
# (the sums of squares keep their precision) while params/acts may be float32.


@njit(cache=True, inline="always")
def backward_gn(table, conn, params, acts, d2acts, h):
    """d2acts[last output] must hold d2E/dy^2 (>= 0); adds this sample's h_kk into h.

    h_kk = sum over the connections (i, j) sharing parameter k of d2E/da_i^2 x_j^2, with
    d2E/da_i^2 = f'(a_i)^2 sum_k w_ki^2 d2E/da_k^2 (LeCun et al. 1998, App. C).
    """
    walk_backward(activation_backward_gn, conv2d_backward_gn, subsample_backward_gn, dense_backward_gn,
                  table, conn, params, acts, d2acts, h)


@njit(cache=True, inline="always")
def sample_curvature(table, pad_values, conn, params, acts, d2acts, h, image, loss_kind):
    """Forward of one sample, the loss's output curvature, backward_gn: h += this sample's h_kk."""
    load_input(image, acts)
    forward(table, pad_values, conn, params, acts)
    loss_curvature(loss_kind, output_view(table, acts), output_view(table, d2acts))
    backward_gn(table, conn, params, acts, d2acts, h)


@njit(cache=True)
def estimate_curvature(table, pad_values, conn, params, acts, d2acts, h, images, indices, loss_kind):
    """h <- (1/P) sum over the P samples images[indices] of their h_kk (overwrites h).

    Neither output curvature (MSE: 2/K, CE: p(1-p)) depends on the label.
    """
    h[:] = 0.0
    P = indices.shape[0]
    for n in range(P):
        sample_curvature(table, pad_values, conn, params, acts, d2acts, h, images[indices[n]], loss_kind)
    if P > 0:
        for k in range(h.shape[0]):
            h[k] /= P
