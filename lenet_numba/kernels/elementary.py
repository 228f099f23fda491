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
Accuracy (tests/test_elementary.py): within 3 ulp of np.tanh in float64. ``tanh32`` is the
same method in float32 arithmetic (16 lanes instead of 8, 3x faster), Taylor series to
r^9, within 3 ulp of the exactly rounded tanh. NaN gives NaN, +-inf gives +-1, -0.0
gives -0.0, a subnormal gives itself. ``tanh(x)`` picks tanh32 for a float32, tanh64
otherwise.

``tanh_fast`` is the ``fast`` numerics policy's tanh (see numerics.py): a rational function
x P(x^2) / Q(x^2) of degree 13/6 on x clamped to +-7.9053 (the coefficients of Eigen's
generic_fast_tanh_float), evaluated in the argument's own type with fused multiply-adds
allowed: 11 multiply-adds and one division, no bit tricks, 16 float32 lanes. Its error
against the exact tanh (tests/test_elementary.py): at most 4e-7 in float32 (about 3 ulp
near 1) and 2.7e-7 in float64, where the approximation, not the rounding, sets it (tanh
saturates at 1 - 2.6e-7). NaN gives NaN; odd; |tanh_fast(x)| <= 1; monotone in float64, while
in float32 the rounding makes it step back by up to 3.6e-7 for |x| in about [3.6, 7.9].
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ..jit_cache import njit

_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds a float64 to an integer
_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 split so that k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.9082149292705877e-10


def _bitcast(from_type, to_type, to_llvm, doc):
    """An intrinsic reinterpreting the bits of a from_type as a to_type (one LLVM bitcast)."""
    @intrinsic
    def bitcast(typingctx, x):
        if x != from_type:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], to_llvm)

        return to_type(x), codegen

    bitcast.__doc__ = doc
    return bitcast


_bits = _bitcast(types.float64, types.int64, ir.IntType(64), "The IEEE bit pattern of a float64, as an int64.")
_from_bits = _bitcast(types.int64, types.float64, ir.DoubleType(), "The float64 whose IEEE bit pattern is the int64.")
_bits32 = _bitcast(types.float32, types.int32, ir.IntType(32), "The IEEE bit pattern of a float32, as an int32.")
_from_bits32 = _bitcast(types.int32, types.float32, ir.FloatType(), "The float32 whose IEEE bit pattern is the int32.")


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


_F = np.float32
_SHIFT32 = _F(12582912.0)  # 1.5 * 2**23
_INV_LN2_32 = _F(_INV_LN2)
_LN2_HI32 = _F(0.693145751953125)  # 16 significant bits: k * _LN2_HI32 exact for |k| < 2**8
_LN2_LO32 = _F(1.428606765330187e-06)
(_Q2, _Q3, _Q4, _Q5, _Q6, _Q7, _Q8, _Q9) = [_F(1.0 / math.factorial(n)) for n in range(2, 10)]


@njit(cache=True, error_model="numpy")
def tanh32(x):
    """tanh of a float32 in float32 arithmetic, vectorizable (16 lanes); <= 3 ulp."""
    y = _F(-2.0) * abs(x)
    if y < _F(-20.0):  # tanh(10) rounds to 1 in float32; NaN stays NaN
        y = _F(-20.0)
    n = y * _INV_LN2_32 + _SHIFT32
    kf = n - _SHIFT32                                                   # an integer in [-29, 0]
    scale = _from_bits32(np.int32((_bits32(n) + 127) << 23))  # 2^k (int64 shift, cut to 32 bits)
    r = (y - kf * _LN2_HI32) - kf * _LN2_LO32
    q = _Q9
    q = q * r + _Q8
    q = q * r + _Q7
    q = q * r + _Q6
    q = q * r + _Q5
    q = q * r + _Q4
    q = q * r + _Q3
    q = q * r + _Q2
    e = r + r * r * q
    t = scale * e + (scale - _F(1.0))
    return math.copysign(-t / (_F(2.0) + t), x)


def _by_dtype(python_function, for_float32, for_float64):
    """Compiled calls of python_function go to for_float32 on a float32, else for_float64."""
    @overload(python_function)
    def compiled(x):
        if x == types.float32:
            return lambda x: for_float32(x)
        if isinstance(x, (types.Float, types.Integer)):
            return lambda x: for_float64(np.float64(x))
        return None


def tanh(x):
    """np.tanh outside compiled code; inside, tanh32 for a float32 and tanh64 otherwise."""
    return np.tanh(x)


_by_dtype(tanh, tanh32, tanh64)


_FAST_CLAMP = 7.90531110763549805  # beyond it the rational function would leave [-1, 1]
(_A1, _A3, _A5, _A7, _A9, _A11, _A13) = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                         5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                                         -2.76076847742355e-16)
(_B0, _B2, _B4, _B6) = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)



@njit(inline="always", error_model="numpy")
def _tanh_rational(x, f):
    """x P(x^2) / Q(x^2) in the type f (np.float32 or np.float64); see the module docstring.
    Inlined, it takes its caller's fastmath flags."""
    c = f(_FAST_CLAMP)
    if x > c:
        x = c
    elif x < -c:  # NaN fails both tests and stays NaN
        x = -c
    x2 = x * x
    p = f(_A13)
    p = p * x2 + f(_A11)
    p = p * x2 + f(_A9)
    p = p * x2 + f(_A7)
    p = p * x2 + f(_A5)
    p = p * x2 + f(_A3)
    p = p * x2 + f(_A1)
    q = f(_B6)
    q = q * x2 + f(_B4)
    q = q * x2 + f(_B2)
    q = q * x2 + f(_B0)
    return x * p / q


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def tanh_fast32(x):
    """The fast policy's tanh of a float32, in float32 (16 lanes); within 4e-7 of tanh."""
    return _tanh_rational(x, np.float32)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def tanh_fast64(x):
    """The fast policy's tanh of a float64, in float64; within 2.7e-7 of tanh."""
    return _tanh_rational(x, np.float64)


def tanh_fast(x):
    """The fast tanh outside compiled code (np.tanh); inside, tanh_fast32 or tanh_fast64."""
    return np.tanh(x)


_by_dtype(tanh_fast, tanh_fast32, tanh_fast64)
