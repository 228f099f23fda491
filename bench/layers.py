"""Per-layer roofline: each kernel of one network timed in isolation on its real shapes.

    python bench/layers.py [--arch lenet1 zipcode1989] [--dtype float32] [--reps 20000]
                           [--out roofline.json]
    python bench/layers.py --render bench/results/roofline.json [--min-share 0.04]

Every kernel is called ``reps`` times from a compiled loop (no Python call overhead), on
the views the engine passes it after one real forward/backward of a USPS-like sample;
the best of 5 timings of this thread's CPU time. Per kernel: its FLOPs (bench/flops.py's
convention: a multiply-add is 2, tanh/loss/copies 0), the bytes it must touch at least
(every input, parameter and output once), µs, GFLOP/s and % of the core's peak
(bench/machine.py; fp64 half). Everything of one sample fits in L1, so the compulsory
bytes bound nothing: what separates a kernel from the peak is its instruction mix (loads,
masks, shuffles, horizontal sums), dependency chains and call overhead. The sum of the
kernels is compared with one whole ``sample_loss_and_grad`` + update, whose difference is
the plan walk's own cost.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from numba import njit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lenet_numba import architectures as A  # noqa: E402
from lenet_numba.kernels.activations import activation_backward, activation_forward  # noqa: E402
from lenet_numba.kernels.conv import conv2d_backward, conv2d_forward
from lenet_numba.kernels.pad import pad_backward, pad_forward  # noqa: E402
from lenet_numba.kernels.dense import dense_backward, dense_forward  # noqa: E402
from lenet_numba.kernels.losses import loss_forward_backward  # noqa: E402
from lenet_numba.kernels.simd import all_finite  # noqa: E402
from lenet_numba.kernels.subsample import subsample_backward, subsample_forward  # noqa: E402
from lenet_numba.model import Model  # noqa: E402
from machine import clock_note, cpu_info, measured_ghz, peak_gflops  # noqa: E402
from provenance import git_rev  # noqa: E402
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
    sample_loss_and_grad(m.table, m.pad_values, m.conn, m.params, acts, dacts, grads, image, label, loss_kind)
    # pre-activations: recompute each layer's output before its activation, for the tanh timing
    params = m.params
    isz = m.dtype.itemsize
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
                rows.append((name, "pad fwd", timed(_t_pad_fwd, reps, x.reshape(C, H, W), p, m.pad_values[li], xp),
                             0, isz * (x.size + xp.size)))
            else:
                src = x.reshape(C, H, W)
            w = params[row[A.W_OFF]:row[A.W_OFF] + Co * nc * K * K].reshape(Co, nc, K, K)
            nb = n_out if row[A.BIAS_PER_UNIT] else Co
            b = params[row[A.B_OFF]:row[A.B_OFF] + nb]
            tbl = m.conn[row[A.CONN_OFF]:row[A.CONN_OFF] + Co * nc].reshape(Co, nc)
            yy = np.zeros((Co, Ho, Wo), m.dtype)
            bpu = bool(row[A.BIAS_PER_UNIT])
            macs = n_out * nc * K * K
            rows.append((name, "conv fwd", timed(_t_conv_fwd, reps, src, w, b, tbl, row[A.STRIDE], bpu, yy),
                         2 * macs + n_out, isz * (src.size + w.size + nb + n_out)))
            pre = yy.ravel().copy()
            dsrc = np.zeros_like(src)
            rows.append((name, "conv bwd", timed(_t_conv_bwd, reps, src, w, tbl, row[A.STRIDE], bpu,
                                                 dy.reshape(Co, Ho, Wo), dsrc, np.zeros_like(w), np.zeros(nb, m.dtype), cdx),
                         2 * macs * (2 if cdx else 1) + (0 if bpu else n_out),
                         isz * (src.size + 2 * w.size + n_out + nb + (src.size if cdx else 0))))
            if cdx and p > 0:
                rows.append((name, "pad bwd", timed(_t_pad_bwd, reps, dsrc, p, dx.reshape(C, H, W)), 0,
                             isz * (dsrc.size + dx.size)))
        elif kind == A.SUBSAMPLE:
            a = params[row[A.W_OFF]:row[A.W_OFF] + C]
            bb = params[row[A.B_OFF]:row[A.B_OFF] + C]
            yy = np.zeros((Co, Ho, Wo), m.dtype)
            rows.append((name, "subsample fwd", timed(_t_sub_fwd, reps, x.reshape(C, H, W), a, bb, yy), 5 * n_out,
                         isz * (x.size + 2 * C + n_out)))
            pre = yy.ravel().copy()
            rows.append((name, "subsample bwd", timed(_t_sub_bwd, reps, x.reshape(C, H, W), a, dy.reshape(Co, Ho, Wo),
                                                      dx.reshape(C, H, W), np.zeros(C, m.dtype), np.zeros(C, m.dtype), cdx),
                         5 * n_out + (x.size if cdx else 0), isz * (x.size + n_out + 3 * C + (x.size if cdx else 0))))
        else:
            n_in = C * H * W
            w = params[row[A.W_OFF]:row[A.W_OFF] + Co * n_in].reshape(Co, n_in)
            bb = params[row[A.B_OFF]:row[A.B_OFF] + Co]
            yy = np.zeros(Co, m.dtype)
            rows.append((name, "dense fwd", timed(_t_dense_fwd, reps, x, w, bb, yy), 2 * w.size + Co,
                         isz * (n_in + w.size + 2 * Co)))
            pre = yy.copy()
            rows.append((name, "dense bwd", timed(_t_dense_bwd, reps, x, w, dy, dx, np.zeros_like(w), np.zeros(Co, m.dtype), cdx),
                         w.size * (3 if cdx else 1), isz * (n_in + 2 * Co + w.size * (2 if cdx else 1) + (n_in if cdx else 0))))
        if row[A.ACT] != 0:
            t_copy = timed(_t_copy, reps, pre.copy(), pre)
            rows.append((name, "activation fwd", max(timed(_t_act_fwd, reps, row[A.ACT], pre.copy(), pre) - t_copy, 0.0),
                         0, isz * 2 * n_out))
            rows.append((name, "activation bwd", max(timed(_t_act_bwd, reps, row[A.ACT], y, dy.copy(), dy) - t_copy, 0.0),
                         0, isz * 3 * n_out))
    last = plan.table[-1]
    n_out = plan.n_outputs
    out = acts[last[A.OUT_OFF]:last[A.OUT_OFF] + n_out].copy()
    rows.append(("loss", loss, timed(_t_loss, reps, loss_kind, out, label, np.zeros(n_out, m.dtype)), 0, isz * 2 * n_out))
    step = np.full(m.n_params, 1e-30, m.dtype)  # tiny: the parameters barely move
    rows.append(("update", "finite check + params -= step*grads", timed(_t_update, reps, params.copy(), step, grads.copy()),
                 2 * m.n_params, isz * 4 * m.n_params))
    whole = timed(_t_sample, reps // 4 or 1, m.table, m.pad_values, m.conn, params.copy(), acts, dacts, grads,
                  image, label, loss_kind)
    return rows, whole


def roofline(arch, dtype, reps, peak32):
    """One network's table as data: its rows (layer, kernel, µs, FLOPs, bytes), the whole
    sample's µs and the peak it is compared with."""
    rows, whole = profile(arch, dtype, reps)
    return {"arch": arch, "dtype": dtype, "peak": peak32 if dtype == "float32" else peak32 / 2,
            "rows": [[name, kernel, float(us), int(flops), int(nbytes)] for name, kernel, us, flops, nbytes in rows],
            "whole_us": float(whole)}


def render_table(t, min_share=0.0):
    """Markdown: one row per kernel (FLOPs, bytes, µs, GFLOP/s, % peak), the sum and the
    whole; with min_share, only the kernels taking at least that share of the sum."""
    rows, peak = t["rows"], t["peak"]
    total = sum(r[2] for r in rows)
    L = [f"### {t['arch']}, {t['dtype']} (peak {peak:.1f} GFLOP/s)", "",
         "| layer | kernel | FLOPs | bytes | FLOP/byte | µs | share | GFLOP/s | % peak |",
         "|---|---|---|---|---|---|---|---|---|"]
    for name, step, us, fl, nb in rows:
        if us < min_share * total:
            continue
        g = fl / (us * 1e3) if us > 0 and fl else 0.0
        L.append(f"| {name} | {step} | {fl:,} | {nb:,} | {fl / nb:.1f} | {us:.3f} | {100 * us / total:.1f}% | "
                 + (f"{g:.1f} | {100 * g / peak:.0f}% |" if fl else "– | – |"))
    fl_all = sum(r[3] for r in rows)
    L.append(f"| sum{' (all kernels)' if min_share else ''} | | {fl_all:,} | {sum(r[4] for r in rows):,} | | "
             f"{total:.3f} | 100% | {fl_all / (total * 1e3):.1f} | {100 * fl_all / (total * 1e3) / peak:.0f}% |")
    L.append(f"| whole | sample_loss_and_grad, no update | | | | {t['whole_us']:.3f} | | | |")
    return "\n".join(L) + "\n"


def render(results, min_share=0.0):
    if min_share:
        parts = [results["header"] + f" Kernels taking at least {100 * min_share:.0f}% of a sample:", ""]
    else:
        parts = ["# Per-kernel roofline", "", results["header"], ""]
    parts += [render_table(t, min_share) for t in results["tables"]]
    return "\n".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["lenet1", "zipcode1989"])
    ap.add_argument("--dtype", nargs="+", default=["float32"])
    ap.add_argument("--reps", type=int, default=20000)
    ap.add_argument("--out", help="also write the results here (JSON; rendered by --render)")
    ap.add_argument("--render", metavar="FILE", help="print the markdown of a results file and exit")
    ap.add_argument("--min-share", type=float, default=0.0, help="with --render: only kernels taking this share")
    a = ap.parse_args(argv)
    if a.render:
        with open(a.render) as f:
            print(render(json.load(f), a.min_share), end="")
        return
    info = cpu_info()
    peak, why = peak_gflops(info)
    command = " ".join(sys.argv[1:] if argv is None else argv)
    header = (f"Measured by `python bench/layers.py {command}` at commit "
              f"`{git_rev('+uncommitted')}`. CPU: {info['cpu']} (family {info['family']}, model {info['model']}: "
              f"{info['core']}); fp32 peak {peak:.1f} GFLOP/s = {why}. Best of 5 runs of {a.reps:,} calls, "
              f"thread CPU time; load average {os.getloadavg()[0]:.2f}." + clock_note(measured_ghz(), info["mhz"]))
    results = {"header": header, "tables": [roofline(arch, dt, a.reps, peak) for arch in a.arch for dt in a.dtype]}
    print(render(results), end="")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
