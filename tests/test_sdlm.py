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

import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenet_numba.architectures import Conv, Subsample
from lenet_numba.kernels.activations import (IDENTITY, SCALED_A, SCALED_S, SCALED_TANH, TANH,
                                             activation_backward_gn)
from lenet_numba.kernels.conv import conv2d_backward_gn, conv2d_forward
from lenet_numba.kernels.dense import dense_backward_gn, dense_forward
from lenet_numba.kernels.losses import CE, MSE, loss_curvature, loss_forward_backward
from lenet_numba.kernels.subsample import subsample_backward_gn, subsample_forward
from lenet_numba.model import Model
from lenet_numba.network import estimate_curvature, sample_curvature

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


# ---------------------------------------------------------------- whole network vs a NumPy twin


def naive_network_curvature(model, image, loss_kind):
    """The same recursion written with NumPy arrays over the named parameters, f' from a.

    forward: keep each layer's (padded) input and pre-activation; backward: d2E/dy^2 at the
    output = loss curvature; per layer d2E/da^2 = f'(a)^2 d2E/dy^2, h = sum d2E/da^2 x^2 over
    the connections of each weight, d2E/dx^2 = sum w^2 d2E/da^2 (unpadded afterwards).
    """
    hidden = {"identity": IDENTITY, "tanh": TANH, "scaled-tanh": SCALED_TANH}[model.activation]
    last = {"identity": IDENTITY, "tanh": TANH, "scaled-tanh": SCALED_TANH}[model.output_activation]
    layers = model.arch.layers
    p = {n: model[n].astype(np.float64) for n in model.param_names}
    x = image.astype(np.float64)[None]
    saved = []
    for li, L in enumerate(layers):
        kind = last if li == len(layers) - 1 else hidden
        if isinstance(L, Conv):
            xp = np.pad(x, ((0, 0), (L.pad, L.pad), (L.pad, L.pad)), constant_values=L.pad_value)
            w, b = p[L.name + ".weight"], p[L.name + ".bias"]
            conn = L.connections or tuple([tuple(range(x.shape[0]))] * L.maps)
            K, s = L.kernel, L.stride
            Ho, Wo = (xp.shape[1] - K) // s + 1, (xp.shape[2] - K) // s + 1
            a = np.zeros((L.maps, Ho, Wo))
            for o in range(L.maps):
                for oy in range(Ho):
                    for ox in range(Wo):
                        v = b[o, oy, ox] if L.bias_per_unit else b[o]
                        for j, i in enumerate(conn[o]):
                            v += np.sum(w[o, j] * xp[i, oy * s:oy * s + K, ox * s:ox * s + K])
                        a[o, oy, ox] = v
            saved.append((L, kind, xp, a, conn))
        elif isinstance(L, Subsample):
            C, H, W = x.shape
            Ho, Wo = H // 2, W // 2
            mean = x[:, :2 * Ho, :2 * Wo].reshape(C, Ho, 2, Wo, 2).mean(axis=(2, 4))
            a = p[L.name + ".alpha"][:, None, None] * mean + p[L.name + ".beta"][:, None, None]
            saved.append((L, kind, x, a, mean))
        else:
            a = p[L.name + ".weight"] @ x.ravel() + p[L.name + ".bias"]
            saved.append((L, kind, x, a, None))
        x = f_naive(kind, a)
    h = {n: np.zeros_like(v) for n, v in p.items()}
    d2y = loss_hessian_diag_naive(loss_kind, x.ravel()).reshape(x.shape)
    for L, kind, xin, a, extra in reversed(saved):
        d2a = fprime_naive(kind, a) ** 2 * d2y
        if isinstance(L, Conv):
            w, conn, K, s = p[L.name + ".weight"], extra, L.kernel, L.stride
            d2xp = np.zeros_like(xin)
            for o in range(L.maps):
                for oy in range(a.shape[1]):
                    for ox in range(a.shape[2]):
                        for j, i in enumerate(conn[o]):
                            patch = xin[i, oy * s:oy * s + K, ox * s:ox * s + K]
                            h[L.name + ".weight"][o, j] += d2a[o, oy, ox] * patch ** 2
                            d2xp[i, oy * s:oy * s + K, ox * s:ox * s + K] += w[o, j] ** 2 * d2a[o, oy, ox]
            if L.bias_per_unit:
                h[L.name + ".bias"] += d2a
            else:
                h[L.name + ".bias"] += d2a.sum(axis=(1, 2))
            P = L.pad
            d2y = d2xp[:, P:d2xp.shape[1] - P, P:d2xp.shape[2] - P]
        elif isinstance(L, Subsample):
            alpha = p[L.name + ".alpha"]
            h[L.name + ".alpha"] += (d2a * extra ** 2).sum(axis=(1, 2))
            h[L.name + ".beta"] += d2a.sum(axis=(1, 2))
            d2x = np.zeros_like(xin)
            Ho, Wo = a.shape[1:]
            blk = (alpha[:, None, None] / 4) ** 2 * d2a
            d2x[:, :2 * Ho, :2 * Wo] = np.repeat(np.repeat(blk, 2, axis=1), 2, axis=2)
            d2y = d2x
        else:
            w = p[L.name + ".weight"]
            h[L.name + ".weight"] += np.outer(d2a, xin.ravel() ** 2)
            h[L.name + ".bias"] += d2a
            d2y = ((w ** 2).T @ d2a).reshape(xin.shape)
    return h, x.ravel()


def engine_curvature(model, images, loss_kind, indices=None):
    acts = np.zeros(model.plan.n_acts, model.dtype)
    d2 = np.zeros(model.plan.n_acts, np.float64)
    h = np.zeros(model.n_params, np.float64)
    x = model.as_images(images)
    if indices is None:
        for n in range(len(x)):
            sample_curvature(model.table, model.pad_values, model.conn, model.params, acts, d2, h, x[n],
                             loss_kind)
    else:
        estimate_curvature(model.table, model.pad_values, model.conn, model.params, acts, d2, h, x,
                           np.asarray(indices, np.int64), loss_kind)
    return h


def randomized_model(arch, hidden, out, seed, dtype="float64"):
    """Random init, then every parameter perturbed (biases, alphas and betas away from 0/1)."""
    m = Model(arch, hidden, out, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    m.params += rng.normal(0, 0.3, m.n_params).astype(m.dtype) * (np.abs(m.params) + 0.1)
    return m


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(("lenet1", "zipcode1989")), st.sampled_from(tuple(KIND_NAMES.values())),
       st.sampled_from(tuple(KIND_NAMES.values())), st.sampled_from((MSE, CE)), st.integers(0, 10_000))
def test_sample_curvature_matches_numpy_twin(arch, hidden, out, loss_kind, seed):
    m = randomized_model(arch, hidden, out, seed)
    image = np.random.default_rng(seed).uniform(-1, 1, (16, 16))
    h = engine_curvature(m, image[None], loss_kind)
    want, y = naive_network_curvature(m, image, loss_kind)
    np.testing.assert_allclose(m.predict(image)[0], y, rtol=1e-12, atol=1e-12)
    for name in m.param_names:
        got = m.view(h, name)
        scale = float(np.abs(want[name]).max()) + 1e-300
        np.testing.assert_allclose(got, want[name], rtol=1e-9, atol=1e-12 * scale, err_msg=name)


def test_sample_curvature_accumulates_and_estimate_averages():
    m = randomized_model("lenet1", "scaled-tanh", "scaled-tanh", 5)
    imgs = np.random.default_rng(0).uniform(-1, 1, (6, 16, 16))
    idx = [4, 1, 1, 5]
    singles = [engine_curvature(m, imgs[i:i + 1], MSE) for i in range(6)]
    np.testing.assert_allclose(engine_curvature(m, imgs, MSE), sum(singles), rtol=1e-12)
    np.testing.assert_allclose(engine_curvature(m, imgs, MSE, idx), sum(singles[i] for i in idx) / 4, rtol=1e-12)
    assert (engine_curvature(m, imgs, MSE, []) == 0).all()


def test_float32_model_with_float64_curvature_buffers():
    m64 = randomized_model("zipcode1989", "scaled-tanh", "scaled-tanh", 2)
    m32 = Model("zipcode1989", "scaled-tanh", "scaled-tanh", dtype="float32")
    m32.params[:] = m64.params
    imgs = np.random.default_rng(1).uniform(-1, 1, (5, 16, 16))
    np.testing.assert_allclose(engine_curvature(m32, imgs, MSE), engine_curvature(m64, imgs, MSE), rtol=1e-4,
                               atol=1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(("lenet1", "zipcode1989")), st.sampled_from(tuple(KIND_NAMES.values())),
       st.sampled_from((MSE, CE)), st.integers(0, 10_000), st.floats(0.1, 20.0))
def test_h_is_never_negative(arch, hidden, loss_kind, seed, spread):
    """Any weights (negative alphas, large values), any inputs: every h_kk >= 0."""
    m = Model(arch, hidden, hidden, dtype="float64", seed=seed)
    rng = np.random.default_rng(seed)
    m.params[:] = rng.normal(0, spread, m.n_params)
    imgs = rng.uniform(-1, 1, (3, 16, 16)) * rng.uniform(0, 3)
    h = engine_curvature(m, imgs, loss_kind, [0, 1, 2])
    assert np.isfinite(h).all() and (h >= 0).all()


# ---------------------------------------------------------------- the optimizer


from lenet_numba.kernels.losses import NAMES as LOSS_NAMES  # noqa: E402
from lenet_numba.optim import SGD, schedule_value  # noqa: E402
from lenet_numba.sdlm import LENET5_ETA, SDLM, scaled_schedule  # noqa: E402
from lenet_numba.train import train  # noqa: E402
from digits import uniform_noise  # noqa: E402


def test_lenet5_schedule():
    assert LENET5_ETA[:12] == [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4
    assert schedule_value(LENET5_ETA, 12) == 1e-5 and schedule_value(LENET5_ETA, 500) == 1e-5
    assert scaled_schedule(10)[0] == pytest.approx(5e-3)


@pytest.mark.parametrize("eta", [3e-4, [1e-3, 5e-4, 2e-4], lambda e: 1e-3 / (1 + e)])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_steps_are_eta_over_mu_plus_h(eta, loss):
    m = Model("lenet1", "scaled-tanh", "scaled-tanh", seed=1)
    x, y = uniform_noise(40)
    opt = SDLM(eta=eta, mu=0.003, n_estimate=25, seed=4)
    idx = opt.estimation_indices(len(x))
    np.testing.assert_array_equal(idx, np.random.default_rng(4).permutation(40)[:25])
    # the documented h: the average of sample_curvature over those samples
    want_h = np.zeros(m.n_params)
    for i in idx:
        want_h += engine_curvature(m, x[i:i + 1], LOSS_NAMES[loss])
    want_h /= len(idx)
    for epoch in (0, 2):
        step = np.zeros(m.n_params, np.float32)
        opt.step_for_epoch(m, epoch, x, y, LOSS_NAMES[loss], step)
        np.testing.assert_allclose(opt.h, want_h, rtol=1e-10)
        want = (schedule_value(eta, epoch) / (0.003 + want_h)).astype(np.float32)
        np.testing.assert_allclose(step, want, rtol=1e-6)
        assert (step > 0).all() and (step <= schedule_value(eta, epoch) / 0.003 * (1 + 1e-6)).all()


def test_n_estimate_larger_than_the_set_uses_every_sample():
    assert sorted(SDLM(n_estimate=500).estimation_indices(7)) == list(range(7))


@pytest.mark.parametrize("kwargs", [dict(eta=0), dict(eta=-1e-3), dict(mu=0), dict(n_estimate=0), dict(eta=[])])
def test_bad_hyperparameters_are_usage_errors(kwargs):
    from lenet_numba.errors import UsageError
    with pytest.raises(UsageError):
        SDLM(**kwargs)


def _run(opt, epochs, start_epoch=0, model=None):
    x, y = uniform_noise(150, seed=2)
    m = model or Model("zipcode1989", "scaled-tanh", "scaled-tanh", seed=3)
    train(m, x, y, epochs=epochs, optimizer=opt, loss="mse", start_epoch=start_epoch, chunk_size=64)
    return m


def test_state_round_trip_gives_identical_training():
    eta = [2e-5, 1e-5, 5e-6]
    straight = _run(SDLM(eta=eta, mu=2e-4, n_estimate=60, seed=7), 4)
    first = SDLM(eta=eta, mu=2e-4, n_estimate=60, seed=7)
    half = _run(first, 2)
    state = {k: np.array(v) for k, v in first.state().items()}  # e.g. through an .npz
    assert all(isinstance(v, np.ndarray) for v in state.values())
    resumed_opt = SDLM(eta=eta)  # other hyperparameters come from the state
    resumed_opt.load_state(state)
    assert (resumed_opt.mu, resumed_opt.n_estimate, resumed_opt.seed) == (2e-4, 60, 7)
    np.testing.assert_array_equal(resumed_opt.h, first.h)
    resumed = _run(resumed_opt, 4, start_epoch=2, model=half.copy())
    np.testing.assert_array_equal(resumed.params, straight.params)
    assert not np.array_equal(half.params, straight.params)


def test_sdlm_with_huge_mu_is_sgd():
    """mu >> h: eta/(mu + h) -> eta/mu for every parameter, so SDLM tends to SGD(eta/mu)."""
    a = _run(SDLM(eta=1e7 * 0.01, mu=1e7, n_estimate=20), 1)
    b = _run(SGD(0.01), 1)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- integration: real USPS


def _load_usps(root, split):
    d = np.loadtxt(gzip.open(root / "usps" / f"zip.{split}.gz"))
    return d[:, 1:].reshape(-1, 16, 16).astype(np.float32), d[:, 0].astype(np.int64)


def test_lenet1_scaled_tanh_mse_sdlm_on_real_usps(data_root):
    """The 1989 recipe (scaled tanh everywhere, MSE, fixed order, float32) with SDLM at the
    LeNet-5 values converted to our mean-over-10-outputs loss (eta = LENET5_ETA, mu = 0.02/10):
    < 7% test error after 3 passes on seed 0 (measured 6.53%). The shipped recipe's values
    (sdlm.TUNED) are tuned for pass 23; its 3-pass check is the 5-seed test below."""
    # data_root (conftest): $LENET_NUMBA_DATA; skips if unset, fails if unset under CI
    x, y = _load_usps(data_root, "train")
    xt, yt = _load_usps(data_root, "test")
    m = Model("lenet1", "scaled-tanh", "scaled-tanh", dtype="float32", seed=0)
    opt = SDLM(eta=LENET5_ETA, mu=0.002)
    r = train(m, x, y, epochs=3, optimizer=opt, loss="mse", test_images=xt, test_labels=yt)
    err = r.history[-1].test_error
    assert err < 0.07, f"test error after 3 passes {err:.4f}"
    assert (opt.h >= 0).all()


def test_the_1989_recipe_itself_is_under_7_percent_after_3_passes(data_root):
    """The shipped ``1989`` recipe (LeNet-1, SDLM at sdlm.TUNED, 0.95^pass decay), run
    through the same entry point as ``lenet-numba train --recipe 1989 --epochs 3``, is under 7%
    test error after 3 passes. Like every target of the reproduction this is a median over
    model seeds 0-4 (measured per seed: 7.22, 6.33, 6.58, 7.27, 6.83 -> median 6.83%); a pass
    is the same whether the run stops after 3 or goes on to 23 (the decay counts passes)."""
    from lenet_numba.experiment import TrainConfig, run

    errors = []
    for seed in range(5):
        s = run(TrainConfig.from_options(arch="lenet1", recipe="1989", overrides={"epochs": 3}, seed=seed,
                            data_dir=str(data_root), download=False))
        assert s["epochs"] == 3 and s["recipe"] == "1989"
        errors.append(s["test_error"])
    assert float(np.median(errors)) < 0.07, f"test errors after 3 passes, seeds 0-4: {errors}"
