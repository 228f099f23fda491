"""Lane-level access for the 16-lane vectors of kernels/simd.py: lanes chosen by an integer
bitmask, a broadcast load, conversions and lane shuffles.

Why: a loop of short masked loads whose lanes change from one load to the next wants its
mask as one scalar integer, computed with a shift or two and moved into a mask register
as is (simd.py's vload_n builds its "first n lanes" mask the same way).

    v = vload_bits(a, off, bits)     lane k = a.flat[off + k] if bit k of bits is set, else 0
                                     (only those lanes are read)
    vstore_bits(a, off, v, bits)     a.flat[off + k] = v[k] for each set bit k
    v = vbroadcast(a, off)           16 copies of a.flat[off]
    v = vload_half_bits(a, off, bits, at)  vload_bits for bits within lanes at..at+7 (at a
                                     literal): a half-width load, fewer cache-line crossings
    v = vload_bits_into(v, a, off, bits)   v, with lane k = a.flat[off + k] for each set bit k
                                     (a merge-masked load: e.g. a window's rows gathered into
                                     the lanes of one vector, one load per row, no shuffles)
    w = vplace(u, v, at, n, start)   u with lanes at.. replaced by v[start..] (literals)
    w = vcast_like(v, s)             v's lanes converted to the float type of the scalar s
    e, o = vevens_odds(v)            v's even and odd lanes, each in lanes 0..7 (zeros above)
    s0, ..., s4 = vload_shifts5(a, off)  a.flat[off + s : off + s + 16] for s = 0..4, one load

Like simd.py: offsets in elements from the start of a C-contiguous array's data, nothing
bounds-checked. The only arithmetic is vcast_like (the conversion an assignment between
the two float types makes), so nothing here rounds differently from the scalar code it
replaces.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .simd import LANES, VecType, _check_array, _masked_fn, _masked_load, _vec_ptr, stride2_lanes


def _bits_mask(builder, bits):
    """<LANES x i1> from the low LANES bits of an integer."""
    return builder.bitcast(builder.trunc(bits, ir.IntType(LANES)), ir.VectorType(ir.IntType(1), LANES))


@intrinsic
def vload_bits(typingctx, a, off, bits):
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        return _masked_load(context, builder, sig.args[0], args[0], args[1], _bits_mask(builder, args[2]))

    return vt(a, types.intp, types.intp), codegen


@intrinsic
def vstore_bits(typingctx, a, off, v, bits):
    _check_array(a)
    if not (isinstance(v, VecType) and v.dtype == a.dtype):
        raise TypeError(f"vstore_bits: {v} into {a}")

    def codegen(context, builder, sig, args):
        ptr = _vec_ptr(context, builder, sig.args[0], args[0], args[1])
        fn = _masked_fn(builder, "store", args[2].type, ptr)
        align = ir.Constant(ir.IntType(32), sig.args[0].dtype.bitwidth // 8)
        builder.call(fn, [args[2], ptr, align, _bits_mask(builder, args[3])])
        return context.get_dummy_value()

    return types.none(a, types.intp, v, types.intp), codegen


@intrinsic
def vbroadcast(typingctx, a, off):
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        x = builder.load(builder.gep(data, [args[1]]))
        vty = context.get_value_type(vt)
        v = builder.insert_element(cgutils.get_null_value(vty), x, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))

    return vt(a, types.intp), codegen


@intrinsic
def vload_bits_into(typingctx, v, a, off, bits):
    """v with the lanes whose bit is set replaced by a.flat[off + k] (a merge-masked load:
    one instruction, and only those lanes are read)."""
    _check_array(a)
    if not (isinstance(v, VecType) and v.dtype == a.dtype):
        raise TypeError(f"vload_bits_into: {a} into {v}")

    def codegen(context, builder, sig, args):
        ptr = _vec_ptr(context, builder, sig.args[1], args[1], args[2])
        align = ir.Constant(ir.IntType(32), sig.args[1].dtype.bitwidth // 8)
        fn = _masked_fn(builder, "load", args[0].type, ptr)
        return builder.call(fn, [ptr, align, _bits_mask(builder, args[3]), args[0]])

    return v(v, a, types.intp, types.intp), codegen


@intrinsic
def vplace(typingctx, u, v, at, n, start):
    """u with lanes at..at+n-1 replaced by v[start..start+n-1] (at, n, start literals): one
    constant shuffle, no arithmetic."""
    if not (isinstance(u, VecType) and u == v and all(isinstance(t, types.IntegerLiteral) for t in (at, n, start))):
        return None
    a, m, s0 = at.literal_value, n.literal_value, start.literal_value
    if not (0 <= a and 0 <= s0 and a + m <= LANES and s0 + m <= LANES):
        raise TypeError(f"vplace: lanes {a}..{a + m} from {s0}.. do not fit {LANES}")

    def codegen(context, builder, sig, args):
        idx = list(range(LANES))
        for k in range(m):
            idx[a + k] = LANES + s0 + k
        return builder.shuffle_vector(args[0], args[1], ir.Constant(ir.VectorType(ir.IntType(32), LANES), idx))

    return u(u, v, at, n, start), codegen


@intrinsic
def vload_half_bits(typingctx, a, off, bits, at):
    """vload_bits for bits within lanes at..at+LANES/2-1 (at a literal), as a half-width load
    (which crosses a cache line less often than a whole vector's span) placed at lane at
    (a shuffle unless at is 0); the other lanes 0."""
    _check_array(a)
    if not isinstance(at, types.IntegerLiteral):
        return None
    half = LANES // 2
    first = at.literal_value
    if not 0 <= first <= half:
        raise TypeError(f"vload_half_bits: lanes {first}.. do not fit {LANES}")
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        ety = context.get_value_type(sig.args[0].dtype)
        hty = ir.VectorType(ety, half)
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        start = builder.add(args[1], ir.Constant(args[1].type, first))
        ptr = builder.bitcast(builder.gep(data, [start]), hty.as_pointer())
        i1v = ir.VectorType(ir.IntType(1), half)
        low = builder.lshr(args[2], ir.Constant(args[2].type, first))
        mask = builder.bitcast(builder.trunc(low, ir.IntType(half)), i1v)
        fnty = ir.FunctionType(hty, [ptr.type, ir.IntType(32), i1v, hty])
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.load.v{half}{ety.intrinsic_name}.p0")
        align = ir.Constant(ir.IntType(32), sig.args[0].dtype.bitwidth // 8)
        h = builder.call(fn, [ptr, align, mask, cgutils.get_null_value(hty)])
        # lane k <- lane k - first of the loaded half, or lane 0 of the zero half
        idx = [k - first if first <= k < first + half else half for k in range(LANES)]
        idx = ir.Constant(ir.VectorType(ir.IntType(32), LANES), idx)
        return builder.shuffle_vector(h, cgutils.get_null_value(hty), idx)

    return vt(a, types.intp, types.intp, at), codegen


@intrinsic
def vcast_like(typingctx, v, s):
    """v's lanes converted to the float type of the scalar s, as a scalar assignment of one
    type to the other would (fpext exactly, fptrunc rounding to nearest); a no-op when the
    types agree."""
    if not (isinstance(v, VecType) and s in (types.float32, types.float64)):
        return None
    vt = VecType(s)

    def codegen(context, builder, sig, args):
        to = context.get_value_type(vt)
        if v.dtype == s:
            return args[0]
        if s.bitwidth > v.dtype.bitwidth:
            return builder.fpext(args[0], to)
        return builder.fptrunc(args[0], to)

    return vt(v, s), codegen


@intrinsic
def vload_shifts5(typingctx, a, off):
    """The five vectors a.flat[off + s : off + s + 16] for s = 0..4 (a 5-tap kernel's shifted
    input segments), from one load of the 20 values and four lane shifts, instead of five
    overlapping loads that each straddle a cache line."""
    _check_array(a)
    vt = VecType(a.dtype)
    tt = types.UniTuple(vt, 5)

    def codegen(context, builder, sig, args):
        ety = context.get_value_type(sig.args[0].dtype)
        wide = ir.VectorType(ety, LANES + 4)
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), wide.as_pointer())
        row = builder.load(ptr, align=sig.args[0].dtype.bitwidth // 8)
        shifts = [builder.shuffle_vector(row, row, ir.Constant(ir.VectorType(ir.IntType(32), LANES),
                                                               list(range(s, s + LANES)))) for s in range(5)]
        return context.make_tuple(builder, tt, shifts)

    return tt(a, types.intp), codegen


@intrinsic
def vevens_odds(typingctx, v):
    """(v0, v2, ..., v14, 0, ..., 0) and (v1, v3, ..., v15, 0, ..., 0): a row of 2x2 blocks'
    left and right inputs from one whole-vector load (stride-2 loads would need masks)."""
    if not isinstance(v, VecType):
        return None
    tt = types.UniTuple(v, 2)

    def codegen(context, builder, sig, args):
        return context.make_tuple(builder, tt, [stride2_lanes(builder, args[0], first) for first in (0, 1)])

    return tt(v), codegen
