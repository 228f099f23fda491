"""The two numerics policies: how the engine's arithmetic may round.

* ``exact``: every kernel adds its terms in the order of the plain loops, with no fused
  multiply-add, and tanh to within 3 ulp, the scaled tanh in float64 as the scalar code
  computed it. A result is the same bit for bit on every x86-64 machine and
  against every earlier release: the regression oracle.
* ``fast`` (the default of a run: every recipe's ``numerics``): the activations run
  elementary.tanh_fast (a rational function within 4e-7 of tanh, fused multiply-adds
  allowed) in the parameters' own type, so a float32 network's scaled tanh stays in
  float32 (16 lanes instead of 8). Deterministic run to run on one
  machine; across machines it can differ in the last bits (a CPU without FMA rounds the
  multiply-adds twice). Inference (predict, evaluate, the evaluation after each pass) also
  fuses the multiply-adds of its convolutions (inference.forward_batch_fast), adding the
  same terms in the same order. The training step's convolutions, dense layers,
  subsampling and updates are the exact policy's kernels.

The policy is part of the network, like its activations: it is chosen by the activation
codes of the plan (kernels/activations.FAST), so both policies train with the same compiled
code (inference has an entry of each), and a checkpoint and a metrics file record which one
trained it. A ``Model`` built in
Python is exact unless given ``numerics="fast"``: the engine's building block stays the
oracle its tests hold everything else to; a run (``train``, ``sweep``, ``reproduce``, the
page's training) follows its recipe, fast unless told ``--numerics exact``.

Fast became the default of runs when the 20-seed reproduction of every row under it
matched the exact one: no row's median test error moved by more than 0.07 points
(docs/numerics.md).
"""

NUMERICS = {
    "exact": "every sum in the plain loops' order, no FMA: bit-identical across machines and releases",
    "fast": "tanh within 4e-7 in the parameters' own type, fused multiply-adds: deterministic, the same 20-seed results",
}
DEFAULT_NUMERICS = "fast"  # of a run (recipes.Recipe.numerics)
MODEL_NUMERICS = "exact"   # of a Model built in Python
