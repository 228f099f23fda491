"""Fixed-width SIMD vectors for the hot kernels: 16 lanes of float32 or float64.

Why: Numba runs LLVM's loop vectorizer but not its SLP vectorizer (NUMBA_SLP_VECTORIZE
is 0 by default), and a float reduction only vectorizes under fastmath. On this engine's
shapes — rows of 4 to 16 values, 25-tap kernels, dot products of 16 to 256 terms — plain
loops therefore run scalar, or vectorized with a set-up cost per row that exceeds the row.
A ``Vec`` is an LLVM ``<16 x T>`` value: kept in registers, it lets a kernel hold a
16-wide accumulator across all the taps of a convolution, which neither vectorizer would
do for us here.

Everything is plain IEEE arithmetic: no fastmath, no fused multiply-add contraction, and
every horizontal sum adds its lanes in one fixed tree. The results therefore do not
depend on the machine (LLVM splits a 16-lane vector into whatever registers the CPU has)
and a run is bit-for-bit repeatable.

    v = vload(a, off)            a[off:off+16]       (a float32/float64, C-contiguous)
    v = vload_n(a, off, n)       a[off:off+n], zeros in lanes n..15 (masked: reads n values)
    v = vload_range(a, off, lo, hi)  lanes lo..hi-1 from a[off+lo:off+hi], zeros elsewhere
    v = vload_even_n(a, off, n)  a[off], a[off+2], ..., n <= 8 of them (a stride-2 row)
    vstore(a, off, v)            a[off:off+16] = v
    vstore_n(a, off, v, n)       a[off:off+n] = v[:n] (masked: writes n values)
    v = vsplat(x)                16 copies of the scalar x (its type sets the lane type)
    u + v, u - v, u * v          lane-wise; a scalar operand is splat first
    s = vhsum(v)                 ((v0..7 + v8..15) -> 4 -> 2 -> 1), always in that order
    v = vgather_n(a, base, idx, i0, n)  lane k < n = a.flat[base + idx[i0 + k]]

Offsets are in elements from the start of the array's data; nothing is bounds-checked.
Also here: ``stack_ptr`` (scratch on the stack), ``flat_view`` (a view with no reference
count, for the engine's plan walk) and ``all_finite`` (a vectorized finiteness check).
"""

import operator

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

from .. import numba_private
from ..jit_cache import njit

LANES = 16


class VecType(types.Type):
    """LANES lanes of a float type, held as one LLVM vector value."""

    def __init__(self, dtype):
        self.dtype = dtype
        super().__init__(name=f"Vec{LANES}({dtype})")


@register_model(VecType)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, LANES))


def _is_float(t):
    return t in (types.float32, types.float64)


def _check_array(a):
    # any layout types, so one kernel compiles for every argument; the caller checks
    # a.flags.c_contiguous at run time before it uses flat offsets
    if not (isinstance(a, types.Array) and _is_float(a.dtype)):
        raise TypeError(f"simd: need a float32/float64 array, got {a}")


def _vec_ptr(context, builder, arrty, arr, off):
    data = context.make_array(arrty)(context, builder, arr).data
    p = builder.gep(data, [off])
    return builder.bitcast(p, ir.VectorType(context.get_value_type(arrty.dtype), LANES).as_pointer())


def _lane_mask(builder, n):
    """<LANES x i1>: lane k is on iff k < n. Built as the integer (1 << n) - 1 (n clamped to
    0..LANES) bitcast to the mask: a shift and a mask-register move, where a compare of
    LANES 64-bit lane indices took several vector instructions per load."""
    n = builder.select(builder.icmp_signed("<", n, ir.Constant(n.type, 0)), ir.Constant(n.type, 0), n)
    n = builder.select(builder.icmp_signed(">", n, ir.Constant(n.type, LANES)), ir.Constant(n.type, LANES), n)
    wide = ir.IntType(2 * LANES)
    bits = builder.sub(builder.shl(ir.Constant(wide, 1), builder.trunc(n, wide)), ir.Constant(wide, 1))
    return builder.bitcast(builder.trunc(bits, ir.IntType(LANES)), ir.VectorType(ir.IntType(1), LANES))


def _masked_fn(builder, name, vty, ptr):
    i1v = ir.VectorType(ir.IntType(1), LANES)
    i32 = ir.IntType(32)
    # LLVM >= 17 has opaque pointers only: the pointer part of the name is "p0"
    mangled = f"llvm.masked.{name}.v{LANES}{vty.element.intrinsic_name}.p0"
    if name == "load":
        fnty = ir.FunctionType(vty, [ptr.type, i32, i1v, vty])
    else:
        fnty = ir.FunctionType(ir.VoidType(), [vty, ptr.type, i32, i1v])
    return cgutils.get_or_insert_function(builder.module, fnty, mangled)


def _masked_load(context, builder, arrty, arr, off, mask):
    """The vector at a.flat[off:], lanes where mask is off read nothing and are 0."""
    ptr = _vec_ptr(context, builder, arrty, arr, off)
    vty = ir.VectorType(context.get_value_type(arrty.dtype), LANES)
    align = ir.Constant(ir.IntType(32), arrty.dtype.bitwidth // 8)
    return builder.call(_masked_fn(builder, "load", vty, ptr), [ptr, align, mask, cgutils.get_null_value(vty)])


@intrinsic
def vload(typingctx, a, off):
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        ptr = _vec_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.load(ptr, align=sig.args[0].dtype.bitwidth // 8)

    return vt(a, types.intp), codegen


@intrinsic
def vload_n(typingctx, a, off, n):
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        return _masked_load(context, builder, sig.args[0], args[0], args[1], _lane_mask(builder, args[2]))

    return vt(a, types.intp, types.intp), codegen


@intrinsic
def vload_range(typingctx, a, off, lo, hi):
    """Lane k = a.flat[off + k] for lo <= k < hi, else 0; only lanes lo..hi-1 are read."""
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        mask = builder.and_(_lane_mask(builder, args[3]), builder.not_(_lane_mask(builder, args[2])))
        return _masked_load(context, builder, sig.args[0], args[0], args[1], mask)

    return vt(a, types.intp, types.intp, types.intp), codegen


@intrinsic
def vload_even_n(typingctx, a, off, n):
    """Lane k = a.flat[off + 2k] for k < n (n <= LANES/2), zeros above: a stride-2 load made
    of one masked load of 2n-1 values and a shuffle (cheaper than a gather)."""
    _check_array(a)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        two_n_1 = builder.sub(builder.add(args[2], args[2]), ir.Constant(args[2].type, 1))
        v = _masked_load(context, builder, sig.args[0], args[0], args[1], _lane_mask(builder, two_n_1))
        # lanes n.. of the result must be 0: lane k < n came from lane 2k < 2n-1, fine; lanes
        # n..LANES/2-1 came from lanes 2n.. which the mask zeroed
        return stride2_lanes(builder, v, 0)

    return vt(a, types.intp, types.intp), codegen


@intrinsic
def vstore(typingctx, a, off, v):
    _check_array(a)
    if not (isinstance(v, VecType) and v.dtype == a.dtype):
        raise TypeError(f"vstore: {v} into {a}")

    def codegen(context, builder, sig, args):
        ptr = _vec_ptr(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], ptr, align=sig.args[0].dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(a, types.intp, v), codegen


@intrinsic
def vstore_n(typingctx, a, off, v, n):
    _check_array(a)
    if not (isinstance(v, VecType) and v.dtype == a.dtype):
        raise TypeError(f"vstore_n: {v} into {a}")

    def codegen(context, builder, sig, args):
        ptr = _vec_ptr(context, builder, sig.args[0], args[0], args[1])
        fn = _masked_fn(builder, "store", args[2].type, ptr)
        align = ir.Constant(ir.IntType(32), sig.args[0].dtype.bitwidth // 8)
        builder.call(fn, [args[2], ptr, align, _lane_mask(builder, args[3])])
        return context.get_dummy_value()

    return types.none(a, types.intp, v, types.intp), codegen


def stride2_lanes(builder, v, first):
    """Lanes first, first+2, ..., of v in lanes 0..LANES/2-1, zeros above (one shuffle with a
    zero vector: index LANES + k picks its lane k)."""
    idx = [first + 2 * k for k in range(LANES // 2)] + [LANES + k for k in range(LANES // 2)]
    idx = ir.Constant(ir.VectorType(ir.IntType(32), LANES), idx)
    return builder.shuffle_vector(v, cgutils.get_null_value(v.type), idx)


def _splat(builder, x, vty):
    v = builder.insert_element(cgutils.get_null_value(vty), x, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))


@intrinsic
def vsplat(typingctx, x):
    if not _is_float(x):
        raise TypeError(f"vsplat: need float32/float64, got {x}")
    vt = VecType(x)

    def codegen(context, builder, sig, args):
        return _splat(builder, args[0], context.get_value_type(vt))

    return vt(x), codegen


def _binop(op):
    @intrinsic
    def impl(typingctx, u, v):
        if not (isinstance(u, VecType) and u == v):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])

        return u(u, v), codegen

    return impl


_vadd, _vsub, _vmul = _binop("fadd"), _binop("fsub"), _binop("fmul")


def _overload_op(pyop, vop):
    @overload(pyop)
    def ol(u, v):
        if isinstance(u, VecType) and isinstance(v, VecType) and u == v:
            return lambda u, v: vop(u, v)
        if isinstance(u, VecType) and _is_float(v) and v == u.dtype:
            return lambda u, v: vop(u, vsplat(v))
        if isinstance(v, VecType) and _is_float(u) and u == v.dtype:
            return lambda u, v: vop(vsplat(u), v)
        return None


_overload_op(operator.add, _vadd)
_overload_op(operator.sub, _vsub)
_overload_op(operator.mul, _vmul)


@intrinsic
def vhsum(typingctx, v):
    if not isinstance(v, VecType):
        raise TypeError(f"vhsum: need a Vec, got {v}")

    def codegen(context, builder, sig, args):
        x = args[0]
        width = LANES
        while width > 1:
            half = width // 2
            lo = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(ir.IntType(32), half), list(range(half))))
            hi = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(ir.IntType(32), half),
                                                          list(range(half, width))))
            x = builder.fadd(lo, hi)
            width = half
        return builder.extract_element(x, ir.Constant(ir.IntType(32), 0))

    return v.dtype(v), codegen


def _gather_ptrs(context, builder, arrty, arr, base, idxty, idx, ioff):
    """<LANES x ptr>: &a[base + idx[ioff + k]] for each lane k."""
    data = context.make_array(arrty)(context, builder, arr).data
    idata = context.make_array(idxty)(context, builder, idx).data
    ity = context.get_value_type(idxty.dtype)
    iv = builder.load(builder.bitcast(builder.gep(idata, [ioff]), ir.VectorType(ity, LANES).as_pointer()),
                      align=idxty.dtype.bitwidth // 8)
    if idxty.dtype.bitwidth < 64:
        iv = builder.sext(iv, ir.VectorType(ir.IntType(64), LANES))
    size = ir.Constant(ir.IntType(64), arrty.dtype.bitwidth // 8)
    start = builder.ptrtoint(builder.gep(data, [base]), ir.IntType(64))
    i64v = ir.VectorType(ir.IntType(64), LANES)
    addr = builder.add(_splat(builder, start, i64v), builder.mul(iv, _splat(builder, size, i64v)))
    return builder.inttoptr(addr, ir.VectorType(data.type, LANES))


def _check_index(idx):
    if not (isinstance(idx, types.Array) and idx.dtype in (types.int32, types.int64)):
        raise TypeError(f"simd: need an int32/int64 index array, got {idx}")


@intrinsic
def vgather_n(typingctx, a, base, idx, ioff, n):
    """Lane k (k < n) = a.flat[base + idx[ioff + k]]; lanes n.. = 0 and read nothing.

    idx[ioff:ioff+LANES] is read whole (keep LANES valid entries after ioff)."""
    _check_array(a)
    _check_index(idx)
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        ptrs = _gather_ptrs(context, builder, sig.args[0], args[0], args[1], sig.args[2], args[2], args[3])
        vty = context.get_value_type(vt)
        fnty = ir.FunctionType(vty, [ptrs.type, ir.IntType(32), ir.VectorType(ir.IntType(1), LANES), vty])
        fn = cgutils.get_or_insert_function(builder.module, fnty,
                                            f"llvm.masked.gather.v{LANES}{vty.element.intrinsic_name}.v{LANES}p0")
        align = ir.Constant(ir.IntType(32), sig.args[0].dtype.bitwidth // 8)
        return builder.call(fn, [ptrs, align, _lane_mask(builder, args[4]), cgutils.get_null_value(vty)])

    return vt(a, types.intp, idx, types.intp, types.intp), codegen


@intrinsic
def stack_ptr(typingctx, n, dtype):
    """Pointer to n (a literal) uninitialised elements on the stack; wrap it with numba.carray.

    The buffer lives until the calling function returns. No heap allocation, and LLVM
    knows it aliases no argument, so loops over it need no run-time overlap checks."""
    if not isinstance(n, types.IntegerLiteral):
        return None
    if isinstance(dtype, types.NumberClass):
        elem = dtype.instance_type
    elif isinstance(dtype, types.DType):
        elem = dtype.dtype
    else:
        return None
    count = n.literal_value

    def codegen(context, builder, sig, args):
        lty = context.get_value_type(elem)
        # in the entry block, like cgutils.alloca_once, but without its zero-fill (a memset
        # of the whole buffer on every call): the kernels write before they read
        with builder.goto_entry_block():
            ptr = builder.alloca(ir.ArrayType(lty, count))
        ptr.align = 64
        return builder.bitcast(ptr, lty.as_pointer())

    return types.CPointer(elem)(n, dtype), codegen


@njit(cache=True)
def all_finite(a):
    """True iff the contiguous 1-D float array a holds no inf or NaN.

    x * 0 is (+-)0 for a finite x and NaN otherwise, so the sum of those products is 0 iff
    every x is finite: a vector loop with no branch per element (four add chains).
    """
    zero = a.dtype.type(0)
    a0 = a1 = a2 = a3 = vsplat(zero)
    n = a.shape[0]
    body = n - n % (4 * LANES)
    for k in range(0, body, 4 * LANES):  # whole vectors, no masks
        a0 = a0 + vload(a, k) * zero
        a1 = a1 + vload(a, k + LANES) * zero
        a2 = a2 + vload(a, k + 2 * LANES) * zero
        a3 = a3 + vload(a, k + 3 * LANES) * zero
    for k in range(body, n, LANES):
        a0 = a0 + vload_n(a, k, min(LANES, n - k)) * zero
    return vhsum((a0 + a1) + (a2 + a3)) == zero


@intrinsic
def flat_view(typingctx, buf, offset, shape):
    """A C-contiguous view of buf.flat[offset : offset + prod(shape)] with the given shape.

    What ``buf[offset:offset + n].reshape(shape)`` gives, without its costs in the engine's
    per-sample path: no call to Numba's reshape helper and no reference-count traffic (the
    view has no meminfo, as a numba.carray). The caller keeps ``buf`` alive while the view
    is in use; the engine only passes such views down to the kernels it calls.

    Built by numba_private.c_array_view (a private helper of Numba): the documented
    ``numba.carray(pointer, shape)`` over a pointer to buf.flat[offset], as an njit function,
    measured 7.45 against 8.77 µs per LeNet-1 float32 SGD sample (medians of 20 passes,
    interleaved, shared 2-core Zen 4).
    """
    if not (isinstance(buf, types.Array) and buf.layout == "C" and isinstance(offset, types.Integer)):
        return None
    if isinstance(shape, types.Integer):
        ndim = 1
    elif isinstance(shape, types.BaseTuple) and all(isinstance(t, types.Integer) for t in shape):
        ndim = len(shape)
    else:
        return None
    retty = types.Array(buf.dtype, ndim, "C")

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        off = context.cast(builder, args[1], sig.args[1], types.intp)
        if ndim == 1 and isinstance(sig.args[2], types.Integer):
            dims = [context.cast(builder, args[2], sig.args[2], types.intp)]
        else:
            dims = [context.cast(builder, builder.extract_value(args[2], k), sig.args[2][k], types.intp)
                    for k in range(ndim)]
        return numba_private.c_array_view(context, builder, retty, builder.gep(src.data, [off]), dims)

    return retty(buf, offset, shape), codegen

