"""A 4x4 tile of a 2-D map as one 16-lane vector (kernels/simd.py's Vec).

    v = vload_tile4(a, off, pitch, stride)   lane 4r + c = a.flat[off + r*pitch + c*stride]
                                             (r, c = 0..3; stride a literal 1 or 2)

Why: a conv layer with 4x4 output maps (LeNet-1's and the zip-code net's second layers)
reads, for each tap, a 4x4 tile of an input map: four short rows. Four 4-lane loads and
three concatenating shuffles build it; a masked 16-lane load and store per row (the
general im2col) cost several times more. With stride 2 each row is a masked 8-lane load
of 7 values (never past the row's last one) and a shuffle keeping the even lanes.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .simd import LANES, VecType, _check_array

assert LANES == 16  # a 4x4 tile fills the vector


def _shuffle(builder, a, b, idx):
    return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), len(idx)), idx))


@intrinsic
def vload_tile4(typingctx, a, off, pitch, stride):
    _check_array(a)
    if not (isinstance(stride, types.IntegerLiteral) and stride.literal_value in (1, 2)):
        return None
    step = stride.literal_value
    vt = VecType(a.dtype)

    def codegen(context, builder, sig, args):
        arr, off, pitch = args[0], args[1], args[2]
        elem = context.get_value_type(sig.args[0].dtype)
        align = sig.args[0].dtype.bitwidth // 8
        data = context.make_array(sig.args[0])(context, builder, arr).data
        quads = []
        for r in range(4):
            start = builder.add(off, builder.mul(pitch, ir.Constant(pitch.type, r)))
            ptr = builder.gep(data, [start])
            if step == 1:
                quads.append(builder.load(builder.bitcast(ptr, ir.VectorType(elem, 4).as_pointer()), align=align))
            else:
                v8 = ir.VectorType(elem, 8)
                i1v = ir.VectorType(ir.IntType(1), 8)
                vptr = builder.bitcast(ptr, v8.as_pointer())
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(v8, [vptr.type, ir.IntType(32), i1v, v8]),
                    f"llvm.masked.load.v8{elem.intrinsic_name}.p0")
                mask = ir.Constant(i1v, [1] * 7 + [0])
                row = builder.call(fn, [vptr, ir.Constant(ir.IntType(32), align), mask, cgutils.get_null_value(v8)])
                quads.append(_shuffle(builder, row, row, [0, 2, 4, 6]))
        lo = _shuffle(builder, quads[0], quads[1], list(range(8)))
        hi = _shuffle(builder, quads[2], quads[3], list(range(8)))
        return _shuffle(builder, lo, hi, list(range(16)))

    return vt(a, types.intp, types.intp, stride), codegen
