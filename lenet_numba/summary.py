"""A network layer by layer: output shape, units, connections, free parameters, FLOPs.

Counts as the 1989 papers count them: a bias is one connection per unit; free parameters
leave out the dead slots of a ragged connection table; the NIPS 1989 net counts its 28x28
input plane and one bias unit among its units (architectures.Architecture.input_units,
bias_unit). FLOPs per sample (a multiply-add is 2, any other add or multiply 1; tanh, the
loss and padding copies are not counted), from the real connections only:

  conv      forward  2 * weighted connections + one bias add per unit
            backward 2 * weighted connections (dW) + one add per unit for a per-map bias
                     + 2 * weighted connections (dX) where the plan computes dx (not layer 1)
  subsample forward  5 per unit (3 adds, x alpha/4, + beta)
            backward 5 per unit + 1 per input unit for dx (if dx)
  dense     forward  2 * n_out * n_in + n_out;  backward n_out * n_in (dW) + 2 * n_out * n_in (dX, if dx)
"""

from . import architectures as A


def summarize(arch):
    """dict(arch, layers=[dict(name, kind, shape, units, connections, params, flops_forward,
    flops_backward)], units, connections, params, flops_forward, flops_backward, published)."""
    plan = A.build(arch)
    layers = []
    for layer, row, counts in zip(plan.arch.layers, plan.table, plan.layer_counts):
        Co, Ho, Wo = int(row[A.OUT_C]), int(row[A.OUT_H]), int(row[A.OUT_W])
        n_in = int(row[A.IN_C] * row[A.IN_H] * row[A.IN_W])
        n_out = Co * Ho * Wo
        dx = bool(row[A.COMPUTE_DX])
        kind = int(row[A.KIND])
        if kind == A.CONV:
            weighted = counts["connections"] - n_out  # every unit has one bias connection
            fwd = 2 * weighted + n_out
            bwd = 2 * weighted + (0 if row[A.BIAS_PER_UNIT] else n_out) + (2 * weighted if dx else 0)
        elif kind == A.SUBSAMPLE:
            fwd = 5 * n_out
            bwd = 5 * n_out + (n_in if dx else 0)
        else:
            fwd = 2 * Co * n_in + Co
            bwd = Co * n_in + (2 * Co * n_in if dx else 0)
        layers.append({"name": layer.name, "kind": type(layer).__name__.lower(), "shape": [Co, Ho, Wo],
                       "units": counts["units"], "connections": counts["connections"],
                       "params": counts["params"], "flops_forward": fwd, "flops_backward": bwd})
    C, H, W = plan.arch.input_shape
    return {"arch": plan.arch.name, "description": plan.arch.description,
            "input_units": plan.units - sum(layer["units"] for layer in layers),
            "layers": layers, "units": plan.units, "connections": plan.connections,
            "params": plan.free_params, "flops_forward": sum(layer["flops_forward"] for layer in layers),
            "flops_backward": sum(layer["flops_backward"] for layer in layers),
            "published": list(plan.arch.published) if plan.arch.published else None}


def render(s):
    """The text table ``lenet-numba summary`` prints."""
    lines = [f"{s['arch']}: {s['description']}",
             f"{'layer':<8} {'kind':<10} {'output':>10} {'units':>7} {'connections':>12} {'params':>7} "
             f"{'FLOPs fwd':>10} {'FLOPs bwd':>10}",
             f"{'input':<8} {'':<10} {'':>10} {s['input_units']:>7,}"]
    for r in s["layers"]:
        shape = "x".join(str(v) for v in r["shape"])
        lines.append(f"{r['name']:<8} {r['kind']:<10} {shape:>10} {r['units']:>7,} {r['connections']:>12,} "
                     f"{r['params']:>7,} {r['flops_forward']:>10,} {r['flops_backward']:>10,}")
    lines.append(f"{'total':<8} {'':<10} {'':>10} {s['units']:>7,} {s['connections']:>12,} {s['params']:>7,} "
                 f"{s['flops_forward']:>10,} {s['flops_backward']:>10,}")
    if s["published"]:
        u, c, p = s["published"]
        lines.append(f"published: {u:,} units, {c:,} connections, {p:,} free parameters")
    return "\n".join(lines)
