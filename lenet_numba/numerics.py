"""The two numerics policies: how the engine's arithmetic may round.

* ``exact`` (the default): every kernel adds its terms in the order of the plain loops,
  with no fused multiply-add, and tanh to within 3 ulp, the scaled tanh in float64 as the
  scalar code computed it. A result is the same bit for bit on every x86-64 machine and
  against every earlier release: the regression oracle.
* ``fast``: the activations run elementary.tanh_fast (a rational function within 4e-7 of
  tanh, fused multiply-adds allowed) in the parameters' own type, so a float32 network's
  scaled tanh stays in float32 (16 lanes instead of 8). Deterministic run to run on one
  machine; across machines it can differ in the last bits (a CPU without FMA rounds the
  multiply-adds twice). The convolutions, dense layers, subsampling and updates are the
  exact policy's kernels.

The policy is part of the network, like its activations: it is chosen by the activation
codes of the plan (kernels/activations.FAST), so both policies run the same compiled code,
and a checkpoint and a metrics file record which one trained it.
"""

NUMERICS = {
    "exact": "every sum in the plain loops' order, no FMA: bit-identical across machines and releases",
    "fast": "tanh within 4e-7 in the parameters' own type, FMA allowed: deterministic, 1.2-1.6x faster",
}
DEFAULT_NUMERICS = "exact"
