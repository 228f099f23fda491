"""Exact floating-point operation counts of one sample, derived from a network's plan.

    python bench/flops.py            # the table for both networks

Convention: a multiply-add is 2 FLOPs, any other add or multiply 1. Counted, layer by
layer from the plan's int64 table (architectures.build):

  conv      forward  2 * C_out*H_out*W_out * n_conn*K*K  (+ C_out*H_out*W_out bias adds)
            dW       2 * C_out*H_out*W_out * n_conn*K*K
            db       C_out*H_out*W_out adds for one bias per map (0 for one per unit: a copy)
            dX       2 * C_out*H_out*W_out * n_conn*K*K, only where the plan asks for dx
                     (COMPUTE_DX: not the first layer, whose input is the image)
  subsample forward  5 per output (3 adds of the 2x2 block, x alpha/4, + beta)
            backward 5 per output (the block sum again, x 1/4, the dalpha and dbeta
                     multiply-add/add) + 1 per input for dx = alpha/4 * dy (if dx)
  dense     forward  2 * n_out*n_in (+ n_out bias adds);  dW n_out*n_in (products)
            dX       2 * n_out*n_in (if dx)
  update    2 per parameter (params -= step * grads)

Not counted: tanh and its derivative, the loss, padding copies, the finiteness check.
Batched inference counts the forward terms only.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lenet_numba import architectures as A  # noqa: E402
from lenet_numba.summary import summarize  # noqa: E402


def count(arch):
    """{'layers': [(name, kind, forward, backward)], 'forward', 'backward', 'update',
    'train' (forward + backward + update), 'macs_forward'} in FLOPs per sample; the layer
    counts are lenet_numba.summary's (one convention, one place)."""
    s = summarize(arch)
    plan = A.build(arch)
    rows = [(r["name"], r["kind"], r["flops_forward"], r["flops_backward"]) for r in s["layers"]]
    # weighted connections = multiply-adds (conv: all but the bias; dense: n_out * n_in)
    macs_forward = sum(r["connections"] - r["units"] for r in s["layers"] if r["kind"] in ("conv", "dense"))
    update = 2 * plan.free_params
    return {"arch": s["arch"], "layers": rows, "forward": s["flops_forward"], "backward": s["flops_backward"],
            "update": update, "train": s["flops_forward"] + s["flops_backward"] + update,
            "macs_forward": macs_forward, "params": plan.free_params}


def describe(c):
    lines = [f"{c['arch']}: {c['params']} parameters, {c['macs_forward']} forward multiply-adds",
             f"  {'layer':8s} {'kind':10s} {'forward':>9s} {'backward':>9s}"]
    for name, kind, f, b in c["layers"]:
        lines.append(f"  {name:8s} {kind:10s} {f:9d} {b:9d}")
    lines.append(f"  forward {c['forward']}, backward {c['backward']}, update {c['update']}: "
                 f"{c['train']} FLOPs per training sample")
    return "\n".join(lines)


if __name__ == "__main__":
    for arch in A.ARCHITECTURES:
        print(describe(count(arch)))
