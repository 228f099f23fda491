"""SDLM: the second-order (diagonal Gauss-Newton) kernels, the network recursion, the optimizer.

* Each ``*_gn`` kernel, for one layer (linear map + activation) followed directly by the
  loss, must give exactly the diagonal of the Gauss-Newton matrix J^T H J, with J the
  Jacobian of the layer's output w.r.t. its parameters (or its input) built naively by
  unit perturbations of the affine pre-activation, and H the loss's output curvature. With
  one layer and a diagonal H, dropping off-diagonal terms loses nothing, so this is exact.
* ``sample_curvature`` over a whole network against a slow NumPy twin of the same
  layer-by-layer recursion (LeCun et al. 1998, App. C).
* h >= 0, SDLM's steps are eta / (mu + h), its state round-trips, and a short real run.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenet_numba.kernels.activations import (IDENTITY, SCALED_A, SCALED_S, SCALED_TANH, TANH,
                                             activation_backward_gn)
from lenet_numba.kernels.conv import conv2d_backward_gn, conv2d_forward
from lenet_numba.kernels.dense import dense_backward_gn, dense_forward
from lenet_numba.kernels.losses import CE, MSE, loss_curvature, loss_forward_backward
from lenet_numba.kernels.subsample import subsample_backward_gn, subsample_forward

KINDS = (IDENTITY, TANH, SCALED_TANH)
KIND_NAMES = {IDENTITY: "identity", TANH: "tanh", SCALED_TANH: "scaled-tanh"}
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- naive pieces


def f_naive(kind, a):
    if kind == TANH:
        return np.tanh(a)
    if kind == SCALED_TANH:
        return SCALED_A * np.tanh(SCALED_S * a)
    return a.copy()


def fprime_naive(kind, a):
    """f'(a) from the pre-activation (the kernels compute it from y = f(a))."""
    if kind == TANH:
        return 1.0 - np.tanh(a) ** 2
    if kind == SCALED_TANH:
        return SCALED_A * SCALED_S * (1.0 - np.tanh(SCALED_S * a) ** 2)
    return np.ones_like(a)


def loss_hessian_diag_naive(kind, y):
    """Diagonal of the loss Hessian w.r.t. the output, in our convention (see losses.py)."""
    K = y.size
    if kind == MSE:
        return np.full(K, 2.0 / K)
    p = np.exp(y - y.max())
    p /= p.sum()
    return p * (1.0 - p)


def jacobian_affine(fn, theta):
    """J[:, k] = fn(theta + e_k) - fn(theta): exact for fn affine in theta (up to rounding)."""
    base = fn(theta).ravel()
    J = np.zeros((base.size, theta.size))
    for k in range(theta.size):
        t = theta.copy().ravel()
        t[k] += 1.0
        J[:, k] = fn(t.reshape(theta.shape)).ravel() - base
    return J


def gn_diag(J_a, a, kind, Hd):
    """diag(J^T H J) with J = d f(a) / d theta = diag(f'(a)) J_a, H = diag(Hd), built in full."""
    J = fprime_naive(kind, a.ravel())[:, None] * J_a
    G = J.T @ np.diag(Hd) @ J
    return np.diag(G).copy()


def layer_d2a(kind, a, loss_kind):
    """What the engine feeds a layer kernel: the loss curvature through the activation."""
    y = f_naive(kind, a).ravel()
    d2 = np.zeros(y.size)
    loss_curvature(loss_kind, y, d2)
    activation_backward_gn(kind, y, d2)
    return y, d2


def close(got, want):
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * scale)


# ---------------------------------------------------------------- losses and activations


@FAST
@given(st.integers(0, 2**31 - 1), st.integers(2, 12), st.sampled_from((MSE, CE)))
def test_loss_curvature_is_the_diagonal_of_the_loss_hessian(seed, K, loss_kind):
    """MSE: 2/K (its whole Hessian); CE: p(1-p), the diagonal of diag(p) - pp^T."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 2, K)
    label = int(rng.integers(K))
    d2 = np.zeros(K)
    loss_curvature(loss_kind, y, d2)
    # central differences of the (exact, tested) gradient
    eps = 1e-5
    want = np.zeros(K)
    g1, g2 = np.zeros(K), np.zeros(K)
    for k in range(K):
        yp, ym = y.copy(), y.copy()
        yp[k] += eps
        ym[k] -= eps
        loss_forward_backward(loss_kind, yp, label, g1)
        loss_forward_backward(loss_kind, ym, label, g2)
        want[k] = (g1[k] - g2[k]) / (2 * eps)
    np.testing.assert_allclose(d2, want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(d2, loss_hessian_diag_naive(loss_kind, y), rtol=1e-12, atol=1e-15)
    assert (d2 >= 0).all()


@FAST
@given(st.integers(0, 2**31 - 1), st.sampled_from(KINDS))
def test_activation_gn_factor_is_fprime_squared(seed, kind):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 2, 17)
    d2 = rng.uniform(0, 3, 17)
    want = d2 * fprime_naive(kind, a) ** 2
    activation_backward_gn(kind, f_naive(kind, a), d2)
    close(d2, want)


# ---------------------------------------------------------------- one layer + loss: exact GN diagonal


@st.composite
def conv_cases(draw):
    C_in = draw(st.integers(1, 3))
    C_out = draw(st.integers(1, 3))
    K = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    H = draw(st.integers(K, 7))
    W = draw(st.integers(K, 7))
    n_conn = draw(st.integers(1, C_in))
    bias_per_unit = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    # distinct input maps per output map: then each (input, output) pair has at most one weight
    conn = np.stack([np.sort(rng.permutation(C_in)[:n_conn]) for _ in range(C_out)]).astype(np.int64)
    return C_in, C_out, K, stride, H, W, conn, bias_per_unit, rng


@FAST
@given(conv_cases(), st.sampled_from(KINDS), st.sampled_from((MSE, CE)))
def test_conv2d_backward_gn_is_exact_gauss_newton_diagonal(case, kind, loss_kind):
    C_in, C_out, K, stride, H, W, conn, bpu, rng = case
    n_conn = conn.shape[1]
    Ho, Wo = (H - K) // stride + 1, (W - K) // stride + 1
    x = rng.uniform(-1.5, 1.5, (C_in, H, W))
    w = rng.normal(0, 0.7, (C_out, n_conn, K, K))
    b = rng.normal(0, 0.5, C_out * Ho * Wo if bpu else C_out)

    def pre(x_, w_, b_):
        y = np.zeros((C_out, Ho, Wo))
        conv2d_forward(x_, w_, b_, conn, stride, bpu, y)
        return y

    a = pre(x, w, b)
    y, d2a = layer_d2a(kind, a, loss_kind)
    Hd = loss_hessian_diag_naive(loss_kind, y)
    prior = rng.uniform(0, 1, w.shape), rng.uniform(0, 1, b.shape)  # h accumulates (+=)
    hw, hb = prior[0].copy(), prior[1].copy()
    d2x = np.full((C_in, H, W), np.nan)
    conv2d_backward_gn(x, w, conn, stride, bpu, d2a.reshape(C_out, Ho, Wo), d2x, hw, hb, True)

    close(hw - prior[0], gn_diag(jacobian_affine(lambda t: pre(x, t, b), w), a, kind, Hd).reshape(w.shape))
    close(hb - prior[1], gn_diag(jacobian_affine(lambda t: pre(x, w, t), b), a, kind, Hd))
    close(d2x, gn_diag(jacobian_affine(lambda t: pre(t, w, b), x), a, kind, Hd).reshape(x.shape))
    assert (hw >= prior[0]).all() and (hb >= prior[1]).all() and (d2x >= 0).all()


@FAST
@given(st.integers(1, 3), st.integers(2, 7), st.integers(2, 7), st.integers(0, 2**31 - 1),
       st.sampled_from(KINDS), st.sampled_from((MSE, CE)))
def test_subsample_backward_gn_is_exact_gauss_newton_diagonal(C, H, W, seed, kind, loss_kind):
    rng = np.random.default_rng(seed)
    Ho, Wo = H // 2, W // 2
    x = rng.uniform(-1.5, 1.5, (C, H, W))
    alpha = rng.normal(0, 1.5, C)
    beta = rng.normal(0, 0.5, C)

    def pre(x_, al, be):
        y = np.zeros((C, Ho, Wo))
        subsample_forward(x_, al, be, y)
        return y

    a = pre(x, alpha, beta)
    y, d2a = layer_d2a(kind, a, loss_kind)
    Hd = loss_hessian_diag_naive(loss_kind, y)
    ha, hbt = np.full(C, 0.25), np.full(C, 0.5)
    d2x = np.full((C, H, W), np.nan)
    subsample_backward_gn(x, alpha, d2a.reshape(C, Ho, Wo), d2x, ha, hbt, True)

    close(ha - 0.25, gn_diag(jacobian_affine(lambda t: pre(x, t, beta), alpha), a, kind, Hd))
    close(hbt - 0.5, gn_diag(jacobian_affine(lambda t: pre(x, alpha, t), beta), a, kind, Hd))
    # includes the zeros on an odd last row/column, which never reach the output
    close(d2x, gn_diag(jacobian_affine(lambda t: pre(t, alpha, beta), x), a, kind, Hd).reshape(x.shape))


@FAST
@given(st.integers(1, 9), st.integers(1, 7), st.integers(0, 2**31 - 1),
       st.sampled_from(KINDS), st.sampled_from((MSE, CE)))
def test_dense_backward_gn_is_exact_gauss_newton_diagonal(n_in, n_out, seed, kind, loss_kind):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, n_in)
    w = rng.normal(0, 0.7, (n_out, n_in))
    b = rng.normal(0, 0.5, n_out)

    def pre(x_, w_, b_):
        y = np.zeros(n_out)
        dense_forward(x_, w_, b_, y)
        return y

    a = pre(x, w, b)
    y, d2a = layer_d2a(kind, a, loss_kind)
    Hd = loss_hessian_diag_naive(loss_kind, y)
    hw, hb = np.zeros(w.shape), np.zeros(n_out)
    d2x = np.full(n_in, np.nan)
    dense_backward_gn(x, w, d2a, d2x, hw, hb, True)

    close(hw, gn_diag(jacobian_affine(lambda t: pre(x, t, b), w), a, kind, Hd).reshape(w.shape))
    close(hb, gn_diag(jacobian_affine(lambda t: pre(x, w, t), b), a, kind, Hd))
    close(d2x, gn_diag(jacobian_affine(lambda t: pre(t, w, b), x), a, kind, Hd))


def test_compute_dx_false_leaves_dx_alone_and_still_accumulates():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (1, 6, 6))
    w = rng.normal(0, 1, (2, 1, 3, 3))
    conn = np.zeros((2, 1), np.int64)
    d2a = rng.uniform(0, 1, (2, 4, 4))
    hw, hb = np.zeros(w.shape), np.zeros(2)
    d2x = np.full(x.shape, 7.0)
    conv2d_backward_gn(x, w, conn, 1, False, d2a, d2x, hw, hb, False)
    conv2d_backward_gn(x, w, conn, 1, False, d2a, d2x, hw, hb, False)
    assert (d2x == 7.0).all()
    np.testing.assert_allclose(hb, 2 * d2a.sum(axis=(1, 2)))
