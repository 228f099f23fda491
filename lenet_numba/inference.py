"""The compiled forward pass over many images: 16 at a time, one per vector lane.

network.forward walks the plan for one image (what a training step needs); forward_lanes
walks it for LANES images whose units sit side by side (kernels/lanes.py's layout), so
every instruction serves 16 images. forward_batch runs a whole set through it; its
outputs are the same bits as network.forward's, image by image, and every prediction,
evaluation, per-pass evaluation and the page's answers come from it. forward_batch_fast is
the fast numerics policy's (numerics.py): the same walk with fused multiply-adds in the
convolutions (the dense layers' sums did not fuse, and are a tenth of the work), for a
model whose plan has the fast activations.

    lane_acts (n_acts * LANES,)   unit u of lane l at u * LANES + l (network.py's units)
    part      (LANES * LANES,)    scratch of the dense layers' partial sums
"""

import numpy as np

from .architectures import (ACT, B_OFF, BIAS_PER_UNIT, CONN_OFF, CONV, IN_C, IN_H, IN_OFF, IN_W, K,
                            KIND, N_CONN, OUT_C, OUT_H, OUT_OFF, OUT_W, PAD, PAD_OFF, STRIDE, SUBSAMPLE,
                            W_OFF)
from .jit_cache import njit
from .kernels.activations import activation_forward
from .kernels.lanes import (conv2d_forward_lanes, conv2d_forward_lanes_fast, dense_forward_lanes, pad_forward_lanes,
                            subsample_forward_lanes)
from .kernels.simd import LANES, flat_view


def lane_buffers(plan, dtype):
    """Fresh (lane_acts, part) work buffers for forward_batch."""
    return np.zeros(plan.n_acts * LANES, dtype), np.zeros(LANES * LANES, dtype)


@njit(cache=True, inline="always")
def forward_lanes(conv, table, pad_values, conn, params, lane_acts, part):
    """lane_acts[input] must hold LANES images; fills every layer's output for each, with
    the given conv kernel (a compile-time constant: each caller its own copy)."""
    for li in range(table.shape[0]):
        row = flat_view(table, li * table.shape[1], table.shape[1])
        C, H, W = row[IN_C], row[IN_H], row[IN_W]
        Co, Ho, Wo = row[OUT_C], row[OUT_H], row[OUT_W]
        n_out = Co * Ho * Wo
        y = flat_view(lane_acts, row[OUT_OFF] * LANES, n_out * LANES)
        kind = row[KIND]
        if kind == CONV:
            p = row[PAD]
            src = flat_view(lane_acts, row[IN_OFF] * LANES, C * H * W * LANES)
            if p > 0:
                padded = flat_view(lane_acts, row[PAD_OFF] * LANES, C * (H + 2 * p) * (W + 2 * p) * LANES)
                pad_forward_lanes(src, C, H, W, p, pad_values[li], padded)
                src = padded
            nc, k = row[N_CONN], row[K]
            nb = n_out if row[BIAS_PER_UNIT] else Co
            conv(src, H + 2 * p, W + 2 * p, flat_view(params, row[W_OFF], (Co, nc, k, k)),
                 flat_view(params, row[B_OFF], nb), flat_view(conn, row[CONN_OFF], (Co, nc)),
                 row[STRIDE], row[BIAS_PER_UNIT] != 0, y, Ho, Wo)
        elif kind == SUBSAMPLE:
            subsample_forward_lanes(flat_view(lane_acts, row[IN_OFF] * LANES, C * H * W * LANES), H, W,
                                    flat_view(params, row[W_OFF], C), flat_view(params, row[B_OFF], C), y, Ho, Wo)
        else:
            n_in = C * H * W
            dense_forward_lanes(flat_view(lane_acts, row[IN_OFF] * LANES, n_in * LANES),
                                flat_view(params, row[W_OFF], (Co, n_in)), flat_view(params, row[B_OFF], Co),
                                y, part)
        activation_forward(row[ACT], y)


@njit(cache=True)
def forward_batch(table, pad_values, conn, params, lane_acts, part, images, out):
    """out[n] = network(images[n]) for every image (N, H, W), LANES images per walk; the
    lanes past the last image hold zeros and are not read back."""
    _forward_batch(conv2d_forward_lanes, table, pad_values, conn, params, lane_acts, part, images, out)


@njit(cache=True)
def forward_batch_fast(table, pad_values, conn, params, lane_acts, part, images, out):
    """forward_batch with the fast policy's fused multiply-adds in the convolutions."""
    _forward_batch(conv2d_forward_lanes_fast, table, pad_values, conn, params, lane_acts, part, images, out)


@njit(cache=True, inline="always")
def _forward_batch(conv, table, pad_values, conn, params, lane_acts, part, images, out):
    """The body of both entries, with their conv kernel."""
    N, H, W = images.shape
    last = flat_view(table, (table.shape[0] - 1) * table.shape[1], table.shape[1])
    n_out = out.shape[1]
    for n0 in range(0, N, LANES):
        m = min(LANES, N - n0)
        for r in range(H):
            for q in range(W):
                base = (r * W + q) * LANES
                for lane in range(LANES):
                    lane_acts[base + lane] = images[n0 + lane, r, q] if lane < m else 0.0
        forward_lanes(conv, table, pad_values, conn, params, lane_acts, part)
        for lane in range(m):
            for k in range(n_out):
                out[n0 + lane, k] = lane_acts[(last[OUT_OFF] + k) * LANES + lane]
