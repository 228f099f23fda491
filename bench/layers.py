"""Per-layer profile: each kernel of one network timed in isolation on its real shapes.

    python bench/layers.py [--arch lenet1] [--dtype float32] [--reps 20000]

Every kernel is called ``reps`` times from a compiled loop (no Python call overhead), on
the views the engine passes it after one real forward/backward of a USPS-like sample.
The table says where a sample's time goes; the sum is compared with one whole
``sample_loss_and_grad`` + update, whose difference is the interpreter's own cost.
"""

import argparse
import os
import sys
import time

import numpy as np
from numba import njit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lenet_numba import architectures as A  # noqa: E402
from lenet_numba.kernels.activations import activation_backward, activation_forward  # noqa: E402
from lenet_numba.kernels.conv import conv2d_backward, conv2d_forward
from lenet_numba.kernels.pad import pad_backward, pad_forward  # noqa: E402
from lenet_numba.kernels.dense import dense_backward, dense_forward  # noqa: E402
from lenet_numba.kernels.losses import loss_forward_backward  # noqa: E402
from lenet_numba.kernels.simd import all_finite  # noqa: E402
from lenet_numba.kernels.subsample import subsample_backward, subsample_forward  # noqa: E402
from lenet_numba.model import Model  # noqa: E402
from lenet_numba.network import sample_loss_and_grad  # noqa: E402
from lenet_numba.optim import apply_update  # noqa: E402


@njit
def _t_conv_fwd(reps, x, w, b, conn, stride, bpu, y):
    for _ in range(reps):
        conv2d_forward(x, w, b, conn, stride, bpu, y)


@njit
def _t_conv_bwd(reps, x, w, conn, stride, bpu, dy, dx, dw, db, cdx):
    for _ in range(reps):
        conv2d_backward(x, w, conn, stride, bpu, dy, dx, dw, db, cdx)


@njit
def _t_pad_fwd(reps, x, p, v, xp):
    for _ in range(reps):
        pad_forward(x, p, v, xp)


@njit
def _t_pad_bwd(reps, dxp, p, dx):
    for _ in range(reps):
        pad_backward(dxp, p, dx)


@njit
def _t_sub_fwd(reps, x, a, b, y):
    for _ in range(reps):
        subsample_forward(x, a, b, y)


@njit
def _t_sub_bwd(reps, x, a, dy, dx, da, db, cdx):
    for _ in range(reps):
        subsample_backward(x, a, dy, dx, da, db, cdx)


@njit
def _t_dense_fwd(reps, x, w, b, y):
    for _ in range(reps):
        dense_forward(x, w, b, y)


@njit
def _t_dense_bwd(reps, x, w, dy, dx, dw, db, cdx):
    for _ in range(reps):
        dense_backward(x, w, dy, dx, dw, db, cdx)


@njit
def _t_act_fwd(reps, kind, y, keep):
    for _ in range(reps):
        y[:] = keep  # tanh of tanh drifts to 0: restart from the real pre-activations
        activation_forward(kind, y)


@njit
def _t_copy(reps, y, keep):
    for _ in range(reps):
        y[:] = keep


@njit
def _t_act_bwd(reps, kind, y, g, keep):
    for _ in range(reps):
        g[:] = keep
        activation_backward(kind, y, g)


@njit
def _t_loss(reps, kind, y, label, g):
    s = 0.0
    for _ in range(reps):
        s += loss_forward_backward(kind, y, label, g)
    return s


@njit
def _t_update(reps, params, step, grads):
    for _ in range(reps):  # as train_chunk: the finiteness check, then the update
        if not all_finite(grads):
            return
        apply_update(params, step, grads)


@njit
def _t_sample(reps, table, pad_values, conn, params, acts, dacts, grads, image, label, loss_kind):
    s = 0.0
    for _ in range(reps):
        s += sample_loss_and_grad(table, pad_values, conn, params, acts, dacts, grads, image, label, loss_kind)
    return s


def timed(fn, reps, *args):
    fn(1, *args)  # compile
    best = float("inf")
    for _ in range(5):
        t0 = time.thread_time()  # CPU time of this thread: robust on a shared machine
        fn(reps, *args)
        best = min(best, (time.thread_time() - t0) / reps)
    return best * 1e6


def profile(arch="lenet1", dtype="float32", reps=20000, image=None, label=3, loss="ce"):
    """[(layer, step, µs)] for one sample of ``arch``, plus the whole sample's µs."""
    m = Model(arch, "tanh", "identity", dtype=dtype, seed=0)
    plan = m.plan
    if image is None:
        image = np.random.default_rng(0).uniform(-1, 1, (16, 16))
    image = np.ascontiguousarray(image, m.dtype)
    acts, dacts, grads = m.buffers()
    loss_kind = {"mse": 0, "ce": 1}[loss]
    sample_loss_and_grad(m._table, m._pad_values, m._conn, m.params, acts, dacts, grads, image, label, loss_kind)
    # pre-activations: recompute each layer's output before its activation, for the tanh timing
    params = m.params
    rows = []
    names = [layer.name for layer in plan.arch.layers]
    for li, row in enumerate(plan.table):
        name = names[li]
        C, H, W = row[A.IN_C], row[A.IN_H], row[A.IN_W]
        Co, Ho, Wo = row[A.OUT_C], row[A.OUT_H], row[A.OUT_W]
        n_out = Co * Ho * Wo
        x = acts[row[A.IN_OFF]:row[A.IN_OFF] + C * H * W]
        y = acts[row[A.OUT_OFF]:row[A.OUT_OFF] + n_out].copy()
        dy = dacts[row[A.OUT_OFF]:row[A.OUT_OFF] + n_out].copy()
        dx = np.zeros(C * H * W, m.dtype)
        cdx = bool(row[A.COMPUTE_DX])
        kind = row[A.KIND]
        if kind == A.CONV:
            p = row[A.PAD]
            K, nc = row[A.K], row[A.N_CONN]
            if p > 0:
                src = acts[row[A.PAD_OFF]:row[A.PAD_OFF] + C * (H + 2 * p) * (W + 2 * p)].reshape(C, H + 2 * p, W + 2 * p)
                xp = np.zeros_like(src)
                rows.append((name, "pad fwd", timed(_t_pad_fwd, reps, x.reshape(C, H, W), p, m._pad_values[li], xp)))
            else:
                src = x.reshape(C, H, W)
            w = params[row[A.W_OFF]:row[A.W_OFF] + Co * nc * K * K].reshape(Co, nc, K, K)
            nb = n_out if row[A.BIAS_PER_UNIT] else Co
            b = params[row[A.B_OFF]:row[A.B_OFF] + nb]
            tbl = m._conn[row[A.CONN_OFF]:row[A.CONN_OFF] + Co * nc].reshape(Co, nc)
            yy = np.zeros((Co, Ho, Wo), m.dtype)
            bpu = bool(row[A.BIAS_PER_UNIT])
            rows.append((name, "conv fwd", timed(_t_conv_fwd, reps, src, w, b, tbl, row[A.STRIDE], bpu, yy)))
            pre = yy.ravel().copy()
            dsrc = np.zeros_like(src)
            rows.append((name, "conv bwd", timed(_t_conv_bwd, reps, src, w, tbl, row[A.STRIDE], bpu,
                                                 dy.reshape(Co, Ho, Wo), dsrc, np.zeros_like(w), np.zeros(nb, m.dtype), cdx)))
            if cdx and p > 0:
                rows.append((name, "pad bwd", timed(_t_pad_bwd, reps, dsrc, p, dx.reshape(C, H, W))))
        elif kind == A.SUBSAMPLE:
            a = params[row[A.W_OFF]:row[A.W_OFF] + C]
            bb = params[row[A.B_OFF]:row[A.B_OFF] + C]
            yy = np.zeros((Co, Ho, Wo), m.dtype)
            rows.append((name, "subsample fwd", timed(_t_sub_fwd, reps, x.reshape(C, H, W), a, bb, yy)))
            pre = yy.ravel().copy()
            rows.append((name, "subsample bwd", timed(_t_sub_bwd, reps, x.reshape(C, H, W), a, dy.reshape(Co, Ho, Wo),
                                                      dx.reshape(C, H, W), np.zeros(C, m.dtype), np.zeros(C, m.dtype), cdx)))
        else:
            n_in = C * H * W
            w = params[row[A.W_OFF]:row[A.W_OFF] + Co * n_in].reshape(Co, n_in)
            bb = params[row[A.B_OFF]:row[A.B_OFF] + Co]
            yy = np.zeros(Co, m.dtype)
            rows.append((name, "dense fwd", timed(_t_dense_fwd, reps, x, w, bb, yy)))
            pre = yy.copy()
            rows.append((name, "dense bwd", timed(_t_dense_bwd, reps, x, w, dy, dx, np.zeros_like(w), np.zeros(Co, m.dtype), cdx)))
        if row[A.ACT] != 0:
            t_copy = timed(_t_copy, reps, pre.copy(), pre)
            rows.append((name, "activation fwd", max(timed(_t_act_fwd, reps, row[A.ACT], pre.copy(), pre) - t_copy, 0.0)))
            rows.append((name, "activation bwd", max(timed(_t_act_bwd, reps, row[A.ACT], y, dy.copy(), dy) - t_copy, 0.0)))
    last = plan.table[-1]
    n_out = plan.n_outputs
    out = acts[last[A.OUT_OFF]:last[A.OUT_OFF] + n_out].copy()
    rows.append(("loss", loss, timed(_t_loss, reps, loss_kind, out, label, np.zeros(n_out, m.dtype))))
    step = np.full(m.n_params, 1e-30, m.dtype)  # tiny: the parameters barely move
    rows.append(("update", "finite check + params -= step*grads", timed(_t_update, reps, params.copy(), step, grads.copy())))
    whole = timed(_t_sample, reps // 4 or 1, m._table, m._pad_values, m._conn, params.copy(), acts, dacts, grads,
                  image, label, loss_kind)
    return rows, whole


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="lenet1")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--reps", type=int, default=20000)
    a = ap.parse_args(argv)
    rows, whole = profile(a.arch, a.dtype, a.reps)
    total = sum(r[2] for r in rows)
    print(f"{a.arch} {a.dtype}: per-kernel µs per sample (compiled loop of {a.reps})")
    print(f"{'layer':8s} {'step':38s} {'µs':>8s} {'share':>6s}")
    for name, step, us in rows:
        print(f"{name:8s} {step:38s} {us:8.3f} {100 * us / total:5.1f}%")
    print(f"{'sum':8s} {'':38s} {total:8.3f}")
    print(f"{'whole':8s} {'sample_loss_and_grad (no update)':38s} {whole:8.3f}")


if __name__ == "__main__":
    main()
