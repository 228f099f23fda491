"""Every compiled layer kernel against its naive twin, finite differences and invariants.

* compiled == naive (tests/naive.py) for every forward and backward, float64 to ~1e-12 of
  the magnitude of the summed terms, float32 to ~1e-5 of it; outputs and gradients are
  pre-filled with garbage so "overwrites" is checked too.
* Central finite differences in float64 of every backward: the directional derivative of
  a random linear functional of the output, along a random direction, against the
  gradient's inner product with that direction.
* Every array lives inside a larger buffer, C-contiguous with NaN/garbage guards or
  strided (not contiguous), so all code paths run and no stray read or write goes unseen.
* Invariants: constant map -> alpha c + beta, one-hot kernel -> plain shift (no flip),
  CE finite for logits of +-1e4, compute_dx=False leaves dx alone.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from lenet_numba.kernels import activations
from lenet_numba.kernels.activations import NAMES as ACT_NAMES
from lenet_numba.kernels.activations import activation_backward, activation_forward
from lenet_numba.kernels.conv import conv2d_backward, conv2d_backward_gn, conv2d_forward
from lenet_numba.kernels.pad import pad_backward, pad_forward
from lenet_numba.kernels.dense import dense_backward, dense_forward
from lenet_numba.kernels.losses import NAMES as LOSS_NAMES
from lenet_numba.kernels.losses import loss_forward_backward, mse_loss, softmax_ce_loss
from lenet_numba.kernels.subsample import subsample_backward, subsample_forward

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = (np.float64, np.float32)
# |compiled - naive| <= RTOL * (the same computation on absolute values): a bound that
# holds whatever the cancellation, for sums of up to a few hundred terms.
RTOL = {np.float64: 1e-12, np.float32: 2e-5}
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)


def assert_close(got, want, magnitude, dtype, what=""):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    tol = RTOL[dtype] * (np.asarray(magnitude, np.float64) + 1e-30)
    err = np.abs(got - want)
    bad = ~(err <= tol)
    assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} entries off; worst |err|={err.max():.3g}, "
                           f"at {np.unravel_index(np.argmax(err - tol), err.shape)}")


def garbage(shape, dtype, rng):
    """A buffer the kernel must overwrite completely (NaN would also pass a += bug silently
    into a NaN result, which assert_close catches too)."""
    return (rng.standard_normal(shape) * 1e3 + 7.0).astype(dtype)


def fd_relerr(fun, x, direction, grad, h):
    """|central difference of fun along direction - <grad, direction>| / <|grad|, |direction|>.

    Fourth-order central stencil, so h can be large enough to make rounding negligible.
    """
    def f(t):
        return fun(x + t * direction)

    fd = (8.0 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12.0 * h)
    an = float(np.sum(grad * direction))
    scale = float(np.sum(np.abs(grad * direction)))
    return abs(fd - an) / max(scale, 1e-300), fd, an


FD_TOL = 1e-8

# ---------------------------------------------------------------- memory placement
#
# The compiled kernels take different code paths for C-contiguous and other arrays, and the
# vectorized paths do unchecked (masked) loads and stores. So every array is placed inside
# a larger buffer: "guarded" = a C-contiguous view with GUARD cells before and after,
# "strided" = every other element of a wider buffer (not contiguous). Inputs get NaN
# around them (any stray read poisons the result), outputs get finite garbage that must
# still be there afterwards (any stray write is seen).

GUARD = 40
layouts = st.sampled_from(["guarded", "strided"])


class Placed:
    def __init__(self, a, layout, fill):
        a = np.asarray(a)
        if layout == "strided":
            buf = np.full(a.shape[:-1] + (2 * a.shape[-1],), fill, a.dtype)
            inside = np.zeros(buf.shape, bool)
            self.view = buf[..., ::2]
            inside[..., ::2] = True
        else:
            buf = np.full(a.size + 2 * GUARD, fill, a.dtype)
            inside = np.zeros(buf.shape, bool)
            self.view = buf[GUARD:GUARD + a.size].reshape(a.shape)
            inside[GUARD:GUARD + a.size] = True
        self.view[...] = a
        self.buf, self.inside = buf, inside
        self.outside_before = buf[~inside].copy()

    def check_untouched_outside(self, what=""):
        np.testing.assert_array_equal(self.buf[~self.inside], self.outside_before,
                                      err_msg=f"{what}: written outside its array")


def inputs(layout, *arrays):
    return [Placed(a, layout, np.nan).view for a in arrays]


def outputs(layout, rng, *shapes_dtype):
    """Output buffers pre-filled with garbage (the kernel must overwrite every element)."""
    return [Placed(garbage(shape, dtype, rng), layout, -777.0) for shape, dtype in shapes_dtype]


# ---------------------------------------------------------------- strategies


@st.composite
def conv_cases(draw):
    """Shapes in five regimes, to reach every code path of the compiled kernels:
    "small" maps (the im2col path; 5x5 kernels on 4 rows of outputs have a path of their
    own in the backward, 8 rows as in the NIPS 1989 net's H3 take its general dx rows),
    "wide" rows (stride 1, >= 16 outputs per row: the row-vector path, with 1..9 rows so
    every remainder of its 4-row blocks shows up) and "big" layers (more output positions
    than the vector paths' stack scratch holds: the plain loops). The vector paths are
    compiled for 5x5 kernels only (other sizes run the plain loops), so K is 5 more often
    than not. A strided layout sends any regime to the plain loops too."""
    kernel_sizes = st.sampled_from([5, 5, 5, 1, 2, 3, 4])
    regime = draw(st.sampled_from(["small", "small 5x5 4 or 8 rows", "wide", "wide whole vectors", "big"]))
    if regime == "small":
        C_in, K = draw(st.integers(1, 4)), draw(kernel_sizes)
        stride = draw(st.sampled_from([1, 2]))
        H_out, W_out = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    elif regime == "small 5x5 4 or 8 rows":  # the second layers' shapes
        C_in, K = draw(st.integers(1, 4)), 5
        stride = draw(st.sampled_from([1, 2]))
        H_out, W_out = draw(st.sampled_from([4, 8])), draw(st.integers(1, 7))
    elif regime == "wide":
        C_in, K, stride = draw(st.integers(1, 3)), draw(kernel_sizes), 1
        H_out, W_out = draw(st.integers(1, 9)), draw(st.integers(16, 21))
    elif regime == "wide whole vectors":  # LeNet-1's first layer: four maps at once, no masks
        C_in, K, stride = draw(st.integers(1, 2)), 5, 1
        H_out, W_out = draw(st.sampled_from([4, 8, 16])), draw(st.sampled_from([16, 32]))
    else:
        C_in, K = 4, 5
        stride = draw(st.sampled_from([1, 2]))
        H_out, W_out = draw(st.integers(18, 22)), 15  # 270+ positions: beyond the scratch
    # up to 9 maps: blocks of four maps sharing their inputs, and the maps left over
    C_out = draw(st.integers(1, 9 if regime != "big" else 4))
    # the input that gives these outputs, with stride 2 maybe one unread last row/column
    H = (H_out - 1) * stride + K + draw(st.integers(0, stride - 1))
    W = (W_out - 1) * stride + K + draw(st.integers(0, stride - 1))
    pad = draw(st.integers(0, max(0, min(2, (min(H, W) - 1) // 2))))
    pad_value = draw(st.sampled_from([0.0, -1.0, 0.5]))
    n_conn = draw(st.integers(1, C_in))
    if draw(st.booleans()):  # every map reads the same inputs (a full table, or LeNet-1's first layer)
        conn = np.tile(np.array(draw(st.permutations(range(C_in)))[:n_conn], np.int64), (C_out, 1))
    else:
        conn = np.array([draw(st.permutations(range(C_in)))[:n_conn] for _ in range(C_out)], np.int64)
    return dict(regime=regime, C_in=C_in, C_out=C_out, K=K, stride=stride, pad=pad, pad_value=pad_value,
                H=H - 2 * pad, W=W - 2 * pad, n_conn=n_conn, conn=conn, bias_per_unit=draw(st.booleans()),
                seed=draw(seeds))


def conv_arrays(case, dtype):
    rng = np.random.default_rng(case["seed"])
    Hp, Wp = case["H"] + 2 * case["pad"], case["W"] + 2 * case["pad"]
    Ho = (Hp - case["K"]) // case["stride"] + 1
    Wo = (Wp - case["K"]) // case["stride"] + 1
    x = rng.uniform(-1, 1, (case["C_in"], case["H"], case["W"])).astype(dtype)
    w = rng.uniform(-1, 1, (case["C_out"], case["n_conn"], case["K"], case["K"])).astype(dtype)
    nb = case["C_out"] * Ho * Wo if case["bias_per_unit"] else case["C_out"]
    b = rng.uniform(-1, 1, nb).astype(dtype)
    dy = rng.uniform(-1, 1, (case["C_out"], Ho, Wo)).astype(dtype)
    return rng, x, w, b, dy, (Hp, Wp), (Ho, Wo)


# ---------------------------------------------------------------- padding


@FAST
@given(C=st.integers(1, 4), H=st.integers(1, 9), W=st.integers(1, 9), pad=st.integers(0, 3),
       value=st.sampled_from([0.0, -1.0, 2.5]), dtype=dtypes, seed=seeds, layout=layouts)
def test_pad_matches_naive(C, H, W, pad, value, dtype, seed, layout):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (C, H, W)).astype(dtype)
    (xp,) = outputs(layout, rng, ((C, H + 2 * pad, W + 2 * pad), dtype))
    pad_forward(*inputs(layout, x), pad, value, xp.view)
    np.testing.assert_array_equal(xp.view, naive.pad_forward(x, pad, value).astype(dtype))  # a copy: exact
    xp.check_untouched_outside("xp")
    dxp = rng.uniform(-1, 1, xp.view.shape).astype(dtype)
    (dx,) = outputs(layout, rng, (x.shape, dtype))
    pad_backward(*inputs(layout, dxp), pad, dx.view)
    np.testing.assert_array_equal(dx.view, naive.pad_backward(dxp, pad).astype(dtype))
    dx.check_untouched_outside("dx")


@FAST
@given(C=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7), pad=st.integers(0, 3), seed=seeds)
def test_pad_backward_finite_differences(C, H, W, pad, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (C, H, W))
    r = rng.standard_normal((C, H + 2 * pad, W + 2 * pad))  # L(x) = <r, pad(x)>

    def L(x):
        xp = np.empty(r.shape)
        pad_forward(x, pad, -1.0, xp)
        return float(np.sum(r * xp))

    dx = np.empty(x.shape)
    pad_backward(r, pad, dx)
    err, fd, an = fd_relerr(L, x, rng.standard_normal(x.shape), dx, 1e-3)
    assert err < FD_TOL, (fd, an)


# ---------------------------------------------------------------- convolution


@FAST
@given(case=conv_cases(), dtype=dtypes, layout=layouts)
def test_conv_forward_matches_naive(case, dtype, layout):
    rng, x, w, b, _, (Hp, Wp), (Ho, Wo) = conv_arrays(case, dtype)
    xp = np.empty((case["C_in"], Hp, Wp), dtype)
    pad_forward(x, case["pad"], case["pad_value"], xp)
    (y,) = outputs(layout, rng, ((case["C_out"], Ho, Wo), dtype))
    conv2d_forward(*inputs(layout, xp, w, b), case["conn"], case["stride"], case["bias_per_unit"], y.view)
    want_xp = naive.pad_forward(x, case["pad"], case["pad_value"])
    want = naive.conv2d_forward(want_xp, w, b, case["conn"], case["stride"], case["bias_per_unit"])
    mag = naive.conv2d_forward(np.abs(want_xp), np.abs(w), np.abs(b), case["conn"], case["stride"],
                               case["bias_per_unit"])
    assert_close(y.view, want, mag, dtype, "y")
    y.check_untouched_outside("y")


@FAST
@given(case=conv_cases(), dtype=dtypes, layout=layouts)
def test_conv_backward_gn_matches_naive(case, dtype, layout):
    """The second-order backward (SDLM): model-dtype x and w, float64 curvatures as the
    engine passes them; it adds into hw, hb and overwrites d2x. Every path of the
    first-order backward it runs on the squares is reached through the regimes."""
    rng, x, w, b, _, _, (Ho, Wo) = conv_arrays(case, dtype)
    xp = naive.pad_forward(x, case["pad"], case["pad_value"]).astype(dtype)
    d2a = rng.uniform(0, 1, (case["C_out"], Ho, Wo))
    prior_w, prior_b = rng.uniform(0, 1, w.shape), rng.uniform(0, 1, b.shape)
    (d2x,) = outputs(layout, rng, (xp.shape, np.float64))
    hw, hb = Placed(prior_w, layout, -777.0), Placed(prior_b, layout, -777.0)
    args = (case["conn"], case["stride"], case["bias_per_unit"])
    xp_in, w_in, d2a_in = inputs(layout, xp, w, d2a)
    conv2d_backward_gn(xp_in, w_in, *args, d2a_in, d2x.view, hw.view, hb.view, True)
    want = naive.conv2d_backward_gn(xp, w, *args, d2a)  # every term >= 0: its own magnitude
    for got, exp, what in ((d2x.view, want[0], "d2x"), (hw.view - prior_w, want[1], "hw"),
                           (hb.view - prior_b, want[2], "hb")):
        assert_close(got, exp, exp + (prior_w if what == "hw" else prior_b if what == "hb" else 0), dtype, what)
    for buf, what in ((d2x, "d2x"), (hw, "hw"), (hb, "hb")):
        buf.check_untouched_outside(what)


@FAST
@given(case=conv_cases(), dtype=dtypes, layout=layouts)
def test_conv_backward_matches_naive(case, dtype, layout):
    rng, x, w, b, dy, (Hp, Wp), _ = conv_arrays(case, dtype)
    xp = naive.pad_forward(x, case["pad"], case["pad_value"]).astype(dtype)
    dxp, dw, db = outputs(layout, rng, (xp.shape, dtype), (w.shape, dtype), (b.shape, dtype))
    args = (case["conn"], case["stride"], case["bias_per_unit"])
    xp_in, w_in, dy_in = inputs(layout, xp, w, dy)
    conv2d_backward(xp_in, w_in, *args, dy_in, dxp.view, dw.view, db.view, True)
    want = naive.conv2d_backward(xp, w, *args, dy)
    mag = naive.conv2d_backward(np.abs(xp), np.abs(w), *args, np.abs(dy))
    for got, exp, m, what in zip((dxp, dw, db), want, mag, ("dx", "dw", "db")):
        assert_close(got.view, exp, m, dtype, what)
        got.check_untouched_outside(what)
    # and through the padding, back to the unpadded input
    dx = garbage(x.shape, dtype, rng)
    pad_backward(dxp.view, case["pad"], dx)
    assert_close(dx, naive.pad_backward(want[0], case["pad"]), naive.pad_backward(mag[0], case["pad"]),
                 dtype, "dx (unpadded)")


def network_conv_layers():
    """(name, C_in, Hp, Wp, conn, K, stride, bias_per_unit, H_out, W_out) of every conv layer
    of the three networks, as the engine's plan gives them: their shapes take the fast
    paths compiled for them (four maps at once, 4x4 tiles, whole vectors), which random
    shapes reach only now and then."""
    from lenet_numba import architectures as A
    from lenet_numba.model import Model
    layers = []
    for arch in ("lenet1", "zipcode1989", "lenet1-nips1989"):
        m = Model(arch, "tanh", "identity", dtype="float32", seed=0)
        for row in m.table:
            if row[A.KIND] != A.CONV:
                continue
            n = row[A.OUT_C] * row[A.N_CONN]
            conn = m.conn[row[A.CONN_OFF]:row[A.CONN_OFF] + n].reshape(row[A.OUT_C], row[A.N_CONN]).copy()
            p = row[A.PAD]
            layers.append((f"{arch} layer {len(layers)}", row[A.IN_C], row[A.IN_H] + 2 * p, row[A.IN_W] + 2 * p, conn,
                           row[A.K], row[A.STRIDE], bool(row[A.BIAS_PER_UNIT]), row[A.OUT_H], row[A.OUT_W]))
    return layers


@pytest.mark.parametrize("layer", network_conv_layers(), ids=lambda layer: layer[0])
@FAST
@given(dtype=dtypes, seed=seeds)
def test_conv_on_the_networks_layers_matches_naive(layer, dtype, seed):
    _, C_in, Hp, Wp, conn, K, stride, bpu, Ho, Wo = layer
    rng = np.random.default_rng(seed)
    C_out = conn.shape[0]
    xp = rng.uniform(-1, 1, (C_in, Hp, Wp)).astype(dtype)
    w = rng.uniform(-1, 1, (C_out, conn.shape[1], K, K)).astype(dtype)
    b = rng.uniform(-1, 1, C_out * Ho * Wo if bpu else C_out).astype(dtype)
    dy = rng.uniform(-1, 1, (C_out, Ho, Wo)).astype(dtype)
    y = garbage((C_out, Ho, Wo), dtype, rng)
    conv2d_forward(xp, w, b, conn, stride, bpu, y)
    assert_close(y, naive.conv2d_forward(xp, w, b, conn, stride, bpu),
                 naive.conv2d_forward(np.abs(xp), np.abs(w), np.abs(b), conn, stride, bpu), dtype, "y")
    want = naive.conv2d_backward(xp, w, conn, stride, bpu, dy)
    mag = naive.conv2d_backward(np.abs(xp), np.abs(w), conn, stride, bpu, np.abs(dy))
    for compute_dx in (True, False):
        dxp, dw, db = garbage(xp.shape, dtype, rng), garbage(w.shape, dtype, rng), garbage(b.shape, dtype, rng)
        before = dxp.copy()
        conv2d_backward(xp, w, conn, stride, bpu, dy, dxp, dw, db, compute_dx)
        assert_close(dw, want[1], mag[1], dtype, "dw")
        assert_close(db, want[2], mag[2], dtype, "db")
        if compute_dx:
            assert_close(dxp, want[0], mag[0], dtype, "dx")
        else:
            np.testing.assert_array_equal(dxp, before)


@FAST
@given(case=conv_cases())
def test_conv_backward_finite_differences(case):
    rng, x, w, b, r, (Hp, Wp), (Ho, Wo) = conv_arrays(case, np.float64)
    conn, stride, bpu, pad, pv = case["conn"], case["stride"], case["bias_per_unit"], case["pad"], case["pad_value"]

    def L(x, w, b):  # a random linear functional of the output, through the padding
        xp = np.empty((case["C_in"], Hp, Wp))
        pad_forward(x, pad, pv, xp)
        y = np.empty(r.shape)
        conv2d_forward(xp, w, b, conn, stride, bpu, y)
        return float(np.sum(r * y))

    xp = np.empty((case["C_in"], Hp, Wp))
    pad_forward(x, pad, pv, xp)
    dxp, dw, db = np.empty(xp.shape), np.empty(w.shape), np.empty(b.shape)
    conv2d_backward(xp, w, conn, stride, bpu, r, dxp, dw, db, True)
    dx = np.empty(x.shape)
    pad_backward(dxp, pad, dx)
    checks = {
        "dx": (lambda v: L(v, w, b), x, dx),
        "dw": (lambda v: L(x, v, b), w, dw),
        "db": (lambda v: L(x, w, v), b, db),
    }
    for what, (fun, at, grad) in checks.items():
        err, fd, an = fd_relerr(fun, at, rng.standard_normal(at.shape), grad, 1e-3)
        assert err < FD_TOL, (what, fd, an)


@FAST
@given(C_in=st.integers(1, 3), C_out=st.integers(1, 3), K=st.integers(2, 5), stride=st.sampled_from([1, 2]),
       extra_h=st.integers(0, 6), extra_w=st.integers(0, 24), data=st.data(), dtype=dtypes, seed=seeds)
def test_conv_one_hot_kernel_is_a_shift(C_in, C_out, K, stride, extra_h, extra_w, data, dtype, seed):
    """w[o] = one-hot at (ky, kx) on one connection: y[o] is x[conn] shifted by (ky, kx), read
    at the stride. A flipped kernel (true convolution) would read at (K-1-ky, K-1-kx)."""
    rng = np.random.default_rng(seed)
    H, W = K + extra_h, K + extra_w
    n_conn = data.draw(st.integers(1, C_in))
    conn = np.array([data.draw(st.permutations(range(C_in)))[:n_conn] for _ in range(C_out)], np.int64)
    x = rng.uniform(-1, 1, (C_in, H, W)).astype(dtype)
    w = np.zeros((C_out, n_conn, K, K), dtype)
    Ho, Wo = (H - K) // stride + 1, (W - K) // stride + 1
    expected = np.empty((C_out, Ho, Wo), dtype)
    for o in range(C_out):
        j = data.draw(st.integers(0, n_conn - 1))
        ky, kx = data.draw(st.integers(0, K - 1)), data.draw(st.integers(0, K - 1))
        w[o, j, ky, kx] = 1.0
        expected[o] = x[conn[o, j], ky:ky + stride * (Ho - 1) + 1:stride, kx:kx + stride * (Wo - 1) + 1:stride]
    y = garbage((C_out, Ho, Wo), dtype, rng)
    conv2d_forward(x, w, np.zeros(C_out, dtype), conn, stride, False, y)
    np.testing.assert_array_equal(y, expected)


def test_conv_one_hot_corner_is_not_flipped():
    """The smallest asymmetric case, spelled out: a 2x2 kernel with its 1 at the top left
    reads x[oy, ox]; a convolution would read x[oy + 1, ox + 1]."""
    x = np.arange(9, dtype=np.float64).reshape(1, 3, 3)
    w = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
    y = np.empty((1, 2, 2))
    conv2d_forward(x, w, np.zeros(1), np.zeros((1, 1), np.int64), 1, False, y)
    np.testing.assert_array_equal(y[0], [[0.0, 1.0], [3.0, 4.0]])


@FAST
@given(case=conv_cases(), dtype=dtypes, layout=layouts)
def test_conv_backward_without_dx_leaves_dx_alone(case, dtype, layout):
    rng, x, w, b, dy, (Hp, Wp), _ = conv_arrays(case, dtype)
    xp = naive.pad_forward(x, case["pad"], case["pad_value"]).astype(dtype)
    dxp, dw, db = outputs(layout, rng, (xp.shape, dtype), (w.shape, dtype), (b.shape, dtype))
    before = dxp.view.copy()
    args = (case["conn"], case["stride"], case["bias_per_unit"])
    xp_in, w_in, dy_in = inputs(layout, xp, w, dy)
    conv2d_backward(xp_in, w_in, *args, dy_in, dxp.view, dw.view, db.view, False)
    np.testing.assert_array_equal(dxp.view, before)
    dxp.check_untouched_outside("dx")
    # the parameter gradients are still computed
    _, want_dw, want_db = naive.conv2d_backward(xp, w, *args, dy)
    _, mag_dw, mag_db = naive.conv2d_backward(np.abs(xp), np.abs(w), *args, np.abs(dy))
    assert_close(dw.view, want_dw, mag_dw, dtype, "dw")
    assert_close(db.view, want_db, mag_db, dtype, "db")


# ---------------------------------------------------------------- subsampling


@st.composite
def sub_cases(draw):
    """Any small shape (the plain loops), or rows of whole 8-output vector steps (W // 2 a
    multiple of 8: the forward's vector path when contiguous)."""
    if draw(st.booleans()):
        W = draw(st.sampled_from([16, 17, 32, 33]))
        C = draw(st.integers(1, 6))
    else:
        W = draw(st.integers(2, 11))
        C = draw(st.integers(1, 5))
    return dict(C=C, H=draw(st.integers(2, 11)), W=W, seed=draw(seeds))


def sub_arrays(case, dtype):
    rng = np.random.default_rng(case["seed"])
    C, H, W = case["C"], case["H"], case["W"]
    x = rng.uniform(-1, 1, (C, H, W)).astype(dtype)
    alpha = rng.uniform(-2, 2, C).astype(dtype)
    beta = rng.uniform(-1, 1, C).astype(dtype)
    dy = rng.uniform(-1, 1, (C, H // 2, W // 2)).astype(dtype)
    return rng, x, alpha, beta, dy


@FAST
@given(case=sub_cases(), dtype=dtypes, layout=layouts)
def test_subsample_forward_matches_naive(case, dtype, layout):
    rng, x, alpha, beta, dy = sub_arrays(case, dtype)
    (y,) = outputs(layout, rng, (dy.shape, dtype))
    subsample_forward(*inputs(layout, x, alpha, beta), y.view)
    mag = naive.subsample_forward(np.abs(x), np.abs(alpha), np.abs(beta))
    assert_close(y.view, naive.subsample_forward(x, alpha, beta), mag, dtype, "y")
    y.check_untouched_outside("y")


@FAST
@given(case=sub_cases(), dtype=dtypes, layout=layouts)
def test_subsample_backward_matches_naive(case, dtype, layout):
    rng, x, alpha, _, dy = sub_arrays(case, dtype)
    out = outputs(layout, rng, (x.shape, dtype), (alpha.shape, dtype), (alpha.shape, dtype))
    subsample_backward(*inputs(layout, x, alpha, dy), *(o.view for o in out), True)
    want = naive.subsample_backward(x, alpha, dy)
    mag = naive.subsample_backward(np.abs(x), np.abs(alpha), np.abs(dy))
    for got, exp, m, what in zip(out, want, mag, ("dx", "dalpha", "dbeta")):
        assert_close(got.view, exp, m, dtype, what)
        got.check_untouched_outside(what)
    dx = out[0].view
    if case["H"] % 2:  # the dropped row/column gets exactly zero gradient
        assert np.all(dx[:, -1, :] == 0)
    if case["W"] % 2:
        assert np.all(dx[:, :, -1] == 0)


@FAST
@given(case=sub_cases(), dtype=dtypes)
def test_subsample_vector_path_gives_the_plain_loops_bits(case, dtype):
    """Contiguous arrays take the forward's vector path (rows of whole steps), strided ones
    the plain loops: the same sums in the same order, so the same bits."""
    rng, x, alpha, beta, dy = sub_arrays(case, dtype)
    got = {}
    for layout in ("guarded", "strided"):
        (y,) = outputs(layout, rng, (dy.shape, dtype))
        subsample_forward(*inputs(layout, x, alpha, beta), y.view)
        got[layout] = y.view.copy()
    np.testing.assert_array_equal(got["guarded"], got["strided"])


@FAST
@given(case=sub_cases())
def test_subsample_backward_finite_differences(case):
    rng, x, alpha, beta, r = sub_arrays(case, np.float64)

    def L(x, alpha, beta):
        y = np.empty(r.shape)
        subsample_forward(x, alpha, beta, y)
        return float(np.sum(r * y))

    dx, da, db = np.empty(x.shape), np.empty(alpha.shape), np.empty(alpha.shape)
    subsample_backward(x, alpha, r, dx, da, db, True)
    checks = {
        "dx": (lambda v: L(v, alpha, beta), x, dx),
        "dalpha": (lambda v: L(x, v, beta), alpha, da),
        "dbeta": (lambda v: L(x, alpha, v), beta, db),
    }
    for what, (fun, at, grad) in checks.items():
        err, fd, an = fd_relerr(fun, at, rng.standard_normal(at.shape), grad, 1e-3)
        assert err < FD_TOL, (what, fd, an)


@FAST
@given(case=sub_cases(), c=st.floats(-3, 3), dtype=dtypes)
def test_subsample_of_a_constant_map(case, c, dtype):
    rng, _, alpha, beta, dy = sub_arrays(case, dtype)
    x = np.full((case["C"], case["H"], case["W"]), c, dtype)
    y = garbage(dy.shape, dtype, rng)
    subsample_forward(x, alpha, beta, y)
    c = float(dtype(c))
    want = (alpha.astype(np.float64) * c + beta)[:, None, None] * np.ones(dy.shape[1:])
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(y, want, rtol=0, atol=8 * eps * (np.abs(alpha).max() * abs(c) + np.abs(beta).max()))


@FAST
@given(case=sub_cases(), dtype=dtypes)
def test_subsample_backward_without_dx_leaves_dx_alone(case, dtype):
    rng, x, alpha, _, dy = sub_arrays(case, dtype)
    dx = garbage(x.shape, dtype, rng)
    before = dx.copy()
    da, db = garbage(alpha.shape, dtype, rng), garbage(alpha.shape, dtype, rng)
    subsample_backward(x, alpha, dy, dx, da, db, False)
    np.testing.assert_array_equal(dx, before)
    _, want_da, want_db = naive.subsample_backward(x, alpha, dy)
    _, mag_da, mag_db = naive.subsample_backward(np.abs(x), np.abs(alpha), np.abs(dy))
    assert_close(da, want_da, mag_da, dtype, "dalpha")
    assert_close(db, want_db, mag_db, dtype, "dbeta")


# ---------------------------------------------------------------- dense


@st.composite
def dense_cases(draw):
    return dict(n_in=draw(st.integers(1, 60)), n_out=draw(st.integers(1, 12)), seed=draw(seeds))


def dense_arrays(case, dtype):
    rng = np.random.default_rng(case["seed"])
    x = rng.uniform(-1, 1, case["n_in"]).astype(dtype)
    w = rng.uniform(-1, 1, (case["n_out"], case["n_in"])).astype(dtype)
    b = rng.uniform(-1, 1, case["n_out"]).astype(dtype)
    dy = rng.uniform(-1, 1, case["n_out"]).astype(dtype)
    return rng, x, w, b, dy


@FAST
@given(case=dense_cases(), dtype=dtypes, layout=layouts)
def test_dense_forward_matches_naive(case, dtype, layout):
    rng, x, w, b, dy = dense_arrays(case, dtype)
    (y,) = outputs(layout, rng, (dy.shape, dtype))
    dense_forward(*inputs(layout, x, w, b), y.view)
    mag = naive.dense_forward(np.abs(x), np.abs(w), np.abs(b))
    assert_close(y.view, naive.dense_forward(x, w, b), mag, dtype, "y")
    y.check_untouched_outside("y")


@FAST
@given(case=dense_cases(), dtype=dtypes, layout=layouts)
def test_dense_backward_matches_naive(case, dtype, layout):
    rng, x, w, _, dy = dense_arrays(case, dtype)
    out = outputs(layout, rng, (x.shape, dtype), (w.shape, dtype), (dy.shape, dtype))
    dense_backward(*inputs(layout, x, w, dy), *(o.view for o in out), True)
    want = naive.dense_backward(x, w, dy)
    mag = naive.dense_backward(np.abs(x), np.abs(w), np.abs(dy))
    for got, exp, m, what in zip(out, want, mag, ("dx", "dw", "db")):
        assert_close(got.view, exp, m, dtype, what)
        got.check_untouched_outside(what)


@FAST
@given(case=dense_cases())
def test_dense_backward_finite_differences(case):
    rng, x, w, b, r = dense_arrays(case, np.float64)

    def L(x, w, b):
        y = np.empty(r.shape)
        dense_forward(x, w, b, y)
        return float(np.sum(r * y))

    dx, dw, db = np.empty(x.shape), np.empty(w.shape), np.empty(b.shape)
    dense_backward(x, w, r, dx, dw, db, True)
    checks = {
        "dx": (lambda v: L(v, w, b), x, dx),
        "dw": (lambda v: L(x, v, b), w, dw),
        "db": (lambda v: L(x, w, v), b, db),
    }
    for what, (fun, at, grad) in checks.items():
        err, fd, an = fd_relerr(fun, at, rng.standard_normal(at.shape), grad, 1e-3)
        assert err < FD_TOL, (what, fd, an)


@FAST
@given(case=dense_cases(), dtype=dtypes)
def test_dense_backward_without_dx_leaves_dx_alone(case, dtype):
    rng, x, w, _, dy = dense_arrays(case, dtype)
    dx = garbage(x.shape, dtype, rng)
    before = dx.copy()
    dw, db = garbage(w.shape, dtype, rng), garbage(dy.shape, dtype, rng)
    dense_backward(x, w, dy, dx, dw, db, False)
    np.testing.assert_array_equal(dx, before)
    _, want_dw, want_db = naive.dense_backward(x, w, dy)
    _, mag_dw, mag_db = naive.dense_backward(np.abs(x), np.abs(w), np.abs(dy))
    assert_close(dw, want_dw, mag_dw, dtype, "dw")
    assert_close(db, want_db, mag_db, dtype, "db")


# ---------------------------------------------------------------- activations

act_names = st.sampled_from(naive.ACTIVATIONS)


def test_activation_names_cover_the_spec():
    assert set(ACT_NAMES) == set(naive.ACTIVATIONS)


@FAST
@given(name=act_names, n=st.integers(1, 50), scale=st.sampled_from([0.1, 1.0, 4.0]), dtype=dtypes, seed=seeds)
def test_activation_forward_matches_naive(name, n, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(n) * scale).astype(dtype)
    y = a.copy()
    activation_forward(ACT_NAMES[name], y)  # in place
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(y, naive.activation(name, a), rtol=4 * eps, atol=4 * eps)


@FAST
@given(name=act_names, values=st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=40),
       dtype=dtypes, layout=layouts)
def test_activation_forward_over_the_whole_range(name, values, dtype, layout):
    """Values straight from hypothesis: 0, -0, subnormals, tiny, huge (saturation), and
    everything between; the compiled tanh is its own code, not libm's."""
    a = np.array(values).astype(dtype)
    placed = Placed(a, layout, np.nan)
    activation_forward(ACT_NAMES[name], placed.view)  # in place
    want = naive.activation(name, a).astype(dtype)  # correctly rounded to within libm's accuracy
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(placed.view, want, rtol=4 * eps, atol=np.finfo(dtype).tiny)
    assert np.all(np.abs(placed.view) <= (1.0 if name == "tanh" else naive.SCALED_A) + 4 * eps) or name == "identity"
    assert np.all(np.signbit(placed.view) == np.signbit(want)), "an odd function keeps the sign (even of -0.0)"
    placed.check_untouched_outside("a")


@FAST
@given(name=act_names, n=st.integers(1, 50), scale=st.sampled_from([0.1, 1.0, 3.0]), dtype=dtypes, seed=seeds)
def test_activation_backward_matches_naive(name, n, scale, dtype, seed):
    """g <- g f'(a), computed by the kernel from y = f(a); the twin uses 1/cosh^2(a)."""
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(n) * scale).astype(dtype)
    y = naive.activation(name, a).astype(dtype)
    g = rng.uniform(-1, 1, n).astype(dtype)
    got = g.copy()
    activation_backward(ACT_NAMES[name], y, got)
    want = g * naive.activation_derivative(name, a)
    # 1 - y^2 from a rounded y: an absolute error of a few eps of f'(0) (<= A S)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, want, rtol=0, atol=16 * eps * np.abs(g).max() * 1.2)


@FAST
@given(name=act_names, n=st.integers(1, 30), seed=seeds)
def test_activation_backward_finite_differences(name, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-3, 3, n)
    r = rng.standard_normal(n)

    def L(a):
        y = a.copy()
        activation_forward(ACT_NAMES[name], y)
        return float(np.sum(r * y))

    y = a.copy()
    activation_forward(ACT_NAMES[name], y)
    g = r.copy()
    activation_backward(ACT_NAMES[name], y, g)
    err, fd, an = fd_relerr(L, a, rng.standard_normal(n), g, 1e-3)
    assert err < 1e-8, (fd, an)


def test_scaled_tanh_constants():
    """f(1) = 1.7159 tanh(2/3) and f'(0) = 1.7159 * 2/3, straight from the definition."""
    y = np.array([1.0, 0.0])
    activation_forward(ACT_NAMES["scaled-tanh"], y)
    assert y[0] == pytest.approx(1.7159 * np.tanh(2.0 / 3.0), rel=1e-15)
    g = np.ones(1)
    activation_backward(ACT_NAMES["scaled-tanh"], np.zeros(1), g)
    assert g[0] == pytest.approx(1.7159 * 2.0 / 3.0, rel=1e-15)


# The fast policy's codes: the same functions within tanh_fast's stated error (4e-7 in
# float32, 2.7e-7 in float64; the scaled tanh's amplitude multiplies it), in the array's type
FAST_ACT = {name: activations.FAST[code] for name, code in ACT_NAMES.items()}


@FAST
@given(name=act_names, values=st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=40),
       dtype=dtypes, layout=layouts)
def test_fast_activation_forward_matches_its_naive_twin_and_the_exact_function(name, values, dtype, layout):
    a = np.array(values).astype(dtype)
    placed = Placed(a, layout, np.nan)
    activation_forward(FAST_ACT[name], placed.view)  # in place
    eps = np.finfo(dtype).eps
    twin = naive.activation_fast(name, a, dtype)
    np.testing.assert_allclose(placed.view, twin, rtol=8 * eps, atol=8 * eps)
    np.testing.assert_allclose(placed.view, naive.activation(name, a), rtol=0, atol=1.7159 * 4e-7 + 4 * eps)
    placed.check_untouched_outside("a")


@FAST
@given(name=act_names, n=st.integers(1, 50), dtype=dtypes, seed=seeds)
def test_fast_activation_backward_is_the_exact_formula(name, n, dtype, seed):
    """g <- g f'(a) from y with the exact policy's formula, whatever made y."""
    rng = np.random.default_rng(seed)
    y = naive.activation_fast(name, rng.standard_normal(n) * 2, dtype)
    g = rng.uniform(-1, 1, n).astype(dtype)
    got, want = g.copy(), g.copy()
    activation_backward(FAST_ACT[name], y, got)
    activation_backward(ACT_NAMES[name], y, want)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- losses

loss_names = st.sampled_from(["mse", "ce"])


@st.composite
def loss_cases(draw):
    K = draw(st.integers(1, 12))
    label = draw(st.integers(0, K - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 5.0]))
    return K, label, scale, draw(seeds)


@FAST
@given(name=loss_names, case=loss_cases(), dtype=dtypes)
def test_loss_matches_naive(name, case, dtype):
    K, label, scale, seed = case
    rng = np.random.default_rng(seed)
    y = (rng.standard_normal(K) * scale).astype(dtype)
    grad = garbage(K, dtype, rng)
    got = loss_forward_backward(LOSS_NAMES[name], y, label, grad)
    want, want_grad = naive.loss(name, y, label)
    tol = {np.float64: 1e-13, np.float32: 2e-6}[dtype]
    mag = max(1.0, float(np.abs(y).max())) ** 2
    assert abs(got - want) <= tol * mag, (got, want)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=tol * mag)
    # the specific entry points agree with the dispatcher
    grad2 = garbage(K, dtype, rng)
    direct = (mse_loss if name == "mse" else softmax_ce_loss)(y, label, grad2)
    assert direct == got
    np.testing.assert_array_equal(grad2, grad)


@FAST
@given(name=loss_names, case=loss_cases())
def test_loss_gradient_finite_differences(name, case):
    K, label, scale, seed = case
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(K) * scale
    scratch = np.empty(K)

    def L(y):
        return float(loss_forward_backward(LOSS_NAMES[name], y, label, scratch))

    grad = np.empty(K)
    L0 = loss_forward_backward(LOSS_NAMES[name], y, label, grad)
    assert np.isfinite(L0)
    for k in range(K):  # every component, one at a time
        e = np.zeros(K)
        e[k] = 1.0
        err, fd, an = fd_relerr(L, y, e, grad, 1e-3)
        assert abs(fd - an) <= 1e-8 * max(1.0, np.abs(grad).max()), (k, fd, an)


@FAST
@given(case=loss_cases())
def test_mse_targets_are_plus_minus_one(case):
    """At y = t (one +1, the rest -1) the MSE loss and gradient are exactly 0, and moving
    one output by d costs d^2 / K."""
    K, label, _, seed = case
    y = -np.ones(K)
    y[label] = 1.0
    grad = np.empty(K)
    assert mse_loss(y, label, grad) == 0.0
    assert np.all(grad == 0.0)
    k = np.random.default_rng(seed).integers(K)
    y[k] += 0.5
    assert mse_loss(y, label, grad) == pytest.approx(0.25 / K, rel=1e-15)


@FAST
@given(K=st.integers(2, 12), data=st.data(), dtype=dtypes)
def test_ce_is_stable_for_huge_logits(K, data, dtype):
    signs = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=K, max_size=K)))
    noise = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=K, max_size=K)))
    z = (1e4 * signs + noise).astype(dtype)
    label = data.draw(st.integers(0, K - 1))
    grad = np.empty(K, dtype)
    got = softmax_ce_loss(z, label, grad)
    assert np.isfinite(got) and np.all(np.isfinite(grad))
    want, want_grad = naive.softmax_ce(z, label)
    # float32 logits of 1e4 are spaced ~1e-3 apart, so compare to that resolution
    atol = {np.float64: 1e-9, np.float32: 1e-2}[dtype]
    assert abs(got - want) <= atol * 10, (got, want)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=atol)
    assert abs(float(np.sum(grad))) <= 1e-5  # softmax sums to 1, minus the one-hot


def test_ce_extreme_values_spelled_out():
    grad = np.empty(3)
    assert softmax_ce_loss(np.array([1e4, -1e4, -1e4]), 0, grad) == 0.0
    np.testing.assert_allclose(grad, [0.0, 0.0, 0.0], atol=1e-300)
    assert softmax_ce_loss(np.array([1e4, -1e4, -1e4]), 1, grad) == pytest.approx(2e4, rel=1e-15)
    np.testing.assert_allclose(grad, [1.0, -1.0, 0.0], atol=1e-300)
