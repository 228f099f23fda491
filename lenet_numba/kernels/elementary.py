"""tanh without a libm call, so that a loop applying it vectorizes.

``np.tanh`` inside a compiled loop is a call to libm's scalar tanh/tanhf (~7-16 ns each):
LeNet-1 evaluates ~1,550 of them per sample, which was the largest cost once the
convolutions were vectorized. ``tanh64`` is branch-free float64 arithmetic (a polynomial,
a division and two integer bit operations), which LLVM's loop vectorizer turns into
8-lane code; there is no fastmath and no FMA contraction, so the result is the same on
every machine.

Method: tanh|x| = -t / (2 + t) with t = expm1(-2|x|) in (-1, 0], then the sign of x.
expm1(y) = 2^k (1 + e) - 1 with k = round(y / ln 2), r = y - k ln 2 (Cody-Waite, |r| <=
ln2/2) and e = expm1(r) from its Taylor series to r^14 (truncation < 1e-17 relative).
Accuracy (tests/test_elementary.py): within 2 ulp of np.tanh in float64; float32 callers
round the float64 result, which is then within 1 ulp of np.tanh in float32. NaN gives
NaN, +-inf gives +-1, -0.0 gives -0.0.
"""

import math

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds a float64 to an integer
_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 split so that k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.9082149292705877e-10


@intrinsic
def _bits(typingctx, x):
    """The IEEE bit pattern of a float64, as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float64 whose IEEE bit pattern is the int64 i."""
    if i != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(i), codegen


@njit(cache=True, error_model="numpy")
def tanh64(x):
    """tanh of a float64, vectorizable; see the module docstring for its accuracy."""
    y = -2.0 * abs(x)
    if y < -40.0:  # tanh(20) rounds to 1; also keeps 2^k normal. NaN stays NaN (y < -40 is False)
        y = -40.0
    n = y * _INV_LN2 + _SHIFT
    kf = n - _SHIFT                                   # round(y / ln 2), an integer in [-58, 0]
    scale = _from_bits((_bits(n) + 1023) << 52)       # 2^k: k sits in the low bits of n
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    # expm1(r) = r + r^2 (1/2! + r/3! + ... + r^12/14!)
    q = 1.0 / 87178291200.0
    q = q * r + 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    e = r + r * r * q
    t = scale * e + (scale - 1.0)                     # expm1(y) = 2^k e + (2^k - 1)
    return math.copysign(-t / (2.0 + t), x)
