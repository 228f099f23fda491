"""The vector primitives of kernels/simd.py and kernels/simd_lanes.py against plain NumPy,
both float dtypes."""

import numpy as np
import pytest
from numba import carray, njit

from lenet_numba.kernels.simd_tile import vload_tile4
from lenet_numba.kernels.simd import (LANES, all_finite, flat_view, stack_ptr, vgather_n, vhsum, vload, vload_even_n,
                                      vload_n, vload_range, vsplat, vstore, vstore_n)
from lenet_numba.kernels.simd_lanes import (vbroadcast, vcast_like, vevens_odds, vload_bits, vload_bits_into,
                                            vload_half_bits, vload_shifts5, vplace, vstore_bits)

DTYPES = (np.float32, np.float64)


@njit(cache=True)
def _loads(a, off, n, lo, hi, out):
    vstore(out, 0, vload(a, off))
    vstore(out, LANES, vload_n(a, off, n))
    vstore(out, 2 * LANES, vload_range(a, off, lo, hi))
    vstore(out, 3 * LANES, vload_even_n(a, off, min(n, LANES // 2)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_loads(dtype):
    a = np.arange(100, dtype=dtype) + 0.5
    for off, n, lo, hi in [(0, 0, 0, 0), (3, 5, 2, 9), (7, 16, 0, 16), (20, 8, 15, 16), (1, 1, 4, 3)]:
        out = np.full(4 * LANES, np.nan, dtype)
        _loads(a, off, n, lo, hi, out)
        np.testing.assert_array_equal(out[:LANES], a[off:off + LANES])
        np.testing.assert_array_equal(out[LANES:2 * LANES], np.where(np.arange(LANES) < n, a[off:off + LANES], 0))
        k = np.arange(LANES)
        np.testing.assert_array_equal(out[2 * LANES:3 * LANES], np.where((k >= lo) & (k < hi), a[off:off + LANES], 0))
        m = min(n, LANES // 2)
        np.testing.assert_array_equal(out[3 * LANES:], np.where(k < m, a[off:off + 2 * LANES:2][:LANES], 0))


@njit(cache=True)
def _masked_reads_nothing(a, n):
    # a's last n values, read from the end: lanes past the array must not be touched
    return vhsum(vload_n(a, a.shape[0] - n, n))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_load_at_the_end_of_an_array(dtype):
    a = np.arange(1, 6, dtype=dtype)
    assert _masked_reads_nothing(a, 5) == 15
    assert _masked_reads_nothing(a, 0) == 0


@njit(cache=True)
def _stores_and_math(a, b, n, out):
    u = vload(a, 0)
    v = vload(b, 0)
    vstore(out, 0, u + v * b[0] - vsplat(a[1]))
    vstore_n(out, LANES, u * (v + v), n)
    return vhsum(u)


@pytest.mark.parametrize("dtype", DTYPES)
def test_arithmetic_stores_and_the_sum_tree(dtype):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(LANES).astype(dtype), rng.standard_normal(LANES).astype(dtype)
    out = np.full(2 * LANES, 7, dtype)
    s = _stores_and_math(a, b, 5, out)
    np.testing.assert_array_equal(out[:LANES], a + b * b[0] - a[1])
    np.testing.assert_array_equal(out[LANES:LANES + 5], (a * (b + b))[:5])
    np.testing.assert_array_equal(out[LANES + 5:], 7)  # masked store wrote 5 values only
    t = a.copy()
    for half in (8, 4, 2, 1):  # the documented tree
        t = t[:half] + t[half:2 * half]
    assert s == t[0]


@njit(cache=True)
def _gather(a, base, idx, i0, n, out):
    vstore(out, 0, vgather_n(a, base, idx, i0, n))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather(dtype):
    a = np.arange(200, dtype=dtype)
    idx = np.array([5 * k % 37 for k in range(40)], np.int32)
    out = np.empty(LANES, dtype)
    _gather(a, 10, idx, 3, 11, out)
    np.testing.assert_array_equal(out, np.where(np.arange(LANES) < 11, a[10 + idx[3:3 + LANES]], 0))


@njit(cache=True)
def _views(buf):
    v = flat_view(buf, 3, (2, 3, 4))
    v[1, 2, 3] = -1
    scratch = carray(stack_ptr(64, buf.dtype), (64,))
    for k in range(64):
        scratch[k] = k
    return v.sum(), v.shape, v.strides, flat_view(buf, 1, 5)[4], scratch.sum()


def test_flat_view_and_stack_scratch():
    buf = np.arange(40, dtype=np.float64)
    total, shape, strides, fifth, scratch = _views(buf)
    assert buf[3 + 23] == -1 and total == np.arange(3, 27).sum() - 26 - 1
    assert shape == (2, 3, 4) and strides == (96, 32, 8) and fifth == 5 and scratch == 63 * 64 / 2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 63, 64, 65, 3128])
def test_all_finite(dtype, n):
    a = np.random.default_rng(n).standard_normal(n).astype(dtype) * 1e30
    assert all_finite(a)
    for bad in (np.inf, -np.inf, np.nan):
        for pos in {0, n // 2, n - 1} if n else ():
            b = a.copy()
            b[pos] = bad
            assert not all_finite(b)


@njit(cache=True)
def _tile(a, off, pitch, stride2, out):
    if stride2:
        vstore(out, 0, vload_tile4(a, off, pitch, 2))
    else:
        vstore(out, 0, vload_tile4(a, off, pitch, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [1, 2])
def test_tile4_is_the_strided_4x4_block(dtype, stride):
    rng = np.random.default_rng(stride)
    for H, W, off_r, off_c in [(4, 4, 0, 0), (8, 8, 1, 3), (12, 12, 5, 4), (20, 20, 13, 13)]:
        m = rng.standard_normal((H, W)).astype(dtype)
        r0, c0 = min(off_r, H - 1 - 3 * stride), min(off_c, W - 1 - 3 * stride)
        if r0 < 0 or c0 < 0:
            continue
        # copy into a buffer that ends right after the tile's last value: nothing past it is read
        last = (r0 + 3 * stride) * W + c0 + 3 * stride
        a = m.ravel()[:last + 1].copy()
        out = np.full(LANES, np.nan, dtype)
        _tile(a, r0 * W + c0, stride * W, stride == 2, out)
        want = m[r0:r0 + 4 * stride:stride, c0:c0 + 4 * stride:stride].ravel()
        np.testing.assert_array_equal(out, want)


# ---------------------------------------------------------------- kernels/simd_lanes.py


@njit(cache=True)
def _lane_ops(a, off, bits, out):
    v = vload_bits(a, off, bits)
    vstore(out, 0, v)
    vstore(out, LANES, vload_bits_into(vsplat(a[0]), a, off, bits))
    vstore(out, 2 * LANES, vbroadcast(a, off))
    vstore(out, 3 * LANES, vload_half_bits(a, off, bits & 0xFF, 0) + vload_half_bits(a, off, bits & 0xFF00, 8))
    vstore(out, 6 * LANES, vload_half_bits(a, off, bits & 0xFF0, 4))
    vstore(out, 4 * LANES, vplace(v, vload(a, 0), 3, 5, 2))
    vstore(out, 5 * LANES, vsplat(a[1]))
    vstore_bits(out, 5 * LANES, v, bits)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lane_bitmask_loads_stores_broadcast_and_place(dtype):
    a = np.arange(100, dtype=dtype) + 0.5
    k = np.arange(LANES)
    for off, bits in [(0, 0), (3, 0b10110), (7, 0xFFFF), (20, 0x8001), (40, 0x7C00), (5, 0x1F)]:
        out = np.full(7 * LANES, np.nan, dtype)
        _lane_ops(a, off, bits, out)
        on = (bits >> k) & 1 == 1
        seg = a[off:off + LANES]
        np.testing.assert_array_equal(out[:LANES], np.where(on, seg, 0))
        np.testing.assert_array_equal(out[LANES:2 * LANES], np.where(on, seg, a[0]))
        np.testing.assert_array_equal(out[2 * LANES:3 * LANES], np.full(LANES, a[off]))
        np.testing.assert_array_equal(out[3 * LANES:4 * LANES], np.where(on, seg, 0))
        np.testing.assert_array_equal(out[6 * LANES:], np.where(on & (k >= 4) & (k < 12), seg, 0))
        placed = np.where(on, seg, 0)
        placed[3:8] = a[2:7]
        np.testing.assert_array_equal(out[4 * LANES:5 * LANES], placed)
        np.testing.assert_array_equal(out[5 * LANES:6 * LANES], np.where(on, seg, a[1]))


@njit(cache=True)
def _bits_read_nothing_else(a, n):
    # a's last n values, read from the end with a bitmask: lanes past the array are not read
    return vhsum(vload_bits(a, a.shape[0] - n, (1 << n) - 1)) + vhsum(vload_half_bits(a, a.shape[0] - n, (1 << n) - 1, 0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bitmask_load_at_the_end_of_an_array(dtype):
    a = np.arange(1, 6, dtype=dtype)
    assert _bits_read_nothing_else(a, 5) == 30
    assert _bits_read_nothing_else(a, 0) == 0


@njit(cache=True)
def _mask_counts(a, n, out):
    vstore(out, 0, vload_n(a, 0, n))
    vstore_n(out, LANES, vload(a, 0), n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [-5, -1, 0, 1, 7, 15, 16, 17, 64, 1000])
def test_lane_counts_out_of_range_clamp(dtype, n):
    """The lane mask is the bitmask (1 << n) - 1 with n clamped to 0..LANES: a negative count
    reads and writes nothing, one above LANES all lanes."""
    a = np.arange(1, LANES + 1, dtype=dtype)
    out = np.full(2 * LANES, -7, dtype)
    _mask_counts(a, n, out)
    m = min(max(n, 0), LANES)
    np.testing.assert_array_equal(out[:LANES], np.where(np.arange(LANES) < m, a, 0))
    np.testing.assert_array_equal(out[LANES:], np.where(np.arange(LANES) < m, a, -7))


@njit(cache=True)
def _casts(a, out32, out64):
    v = vload(a, 0)
    vstore(out32, 0, vcast_like(v, np.float32(0)))
    vstore(out64, 0, vcast_like(v, 0.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cast_is_the_scalar_conversion(dtype):
    rng = np.random.default_rng(0)
    a = (rng.uniform(-1, 1, LANES) * 10.0 ** rng.integers(-8, 8, LANES)).astype(dtype)
    out32, out64 = np.empty(LANES, np.float32), np.empty(LANES)
    _casts(a, out32, out64)
    np.testing.assert_array_equal(out32, a.astype(np.float32))
    np.testing.assert_array_equal(out64, a.astype(np.float64))


@njit(cache=True)
def _shifts_and_halves(a, off, out):
    s = vload_shifts5(a, off)
    for k in range(5):
        vstore(out, k * LANES, s[k])
    e, o = vevens_odds(vload(a, off))
    vstore(out, 5 * LANES, e)
    vstore(out, 6 * LANES, o)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("off", [0, 3, 16])
def test_five_shifted_segments_and_even_odd_lanes(dtype, off):
    a = np.arange(LANES + 4 + off, dtype=dtype) * 1.5 - 7  # the last segment ends at the array's end
    out = np.full(7 * LANES, np.nan, dtype)
    _shifts_and_halves(a, off, out)
    for k in range(5):
        np.testing.assert_array_equal(out[k * LANES:(k + 1) * LANES], a[off + k:off + k + LANES])
    row, half = a[off:off + LANES], np.zeros(LANES // 2, dtype)
    np.testing.assert_array_equal(out[5 * LANES:6 * LANES], np.concatenate([row[0::2], half]))
    np.testing.assert_array_equal(out[6 * LANES:], np.concatenate([row[1::2], half]))
