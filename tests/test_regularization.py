"""Weight decay (L2 in every per-sample update) and label smoothing (CE target).

* the smoothed CE kernel == its naive twin (tests/naive.py), float64 and float32; its
  gradient == central finite differences; eps = 0 is plain CE bit for bit; the loss is
  the (1 - eps, eps/K) mixture of the plain CE losses of every label; finite for huge logits;
* apply_update_decay == its naive twin (weight_decay 0: apply_update, bit for bit in float64);
* whole network: Model.loss_and_grad with smoothing == the mixture of plain-CE gradients,
  and its value == the naive network's; finite differences through the network;
* train() with both == a plain Python loop (the twin), and with both 0 == train() without them;
* recipes refuse bad values; the CLI options set the recipe fields, land in the checkpoint's
  metadata, a resumed run refuses a changed value, and resuming mid-pass stays bit-identical.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from digits import synthetic
from clitools import assert_ok, assert_user_error, invoke
from lenet_numba.checkpoint import load_checkpoint
from lenet_numba.errors import UsageError
from lenet_numba.experiment import TrainConfig, run
from lenet_numba.kernels.losses import CE, loss_forward_backward, softmax_ce_loss, softmax_ce_smoothed_loss
from lenet_numba.model import Model
from lenet_numba.optim import apply_update, apply_update_decay, apply_update_uniform, uniform_step
from lenet_numba.recipes import RECIPES
from lenet_numba.train import presentation_order, train

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
dtypes = st.sampled_from([np.float64, np.float32])
seeds = st.integers(0, 2**32 - 1)
epsilons = st.sampled_from([0.0, 1e-3, 0.05, 0.1, 0.3, 0.9])


@st.composite
def ce_cases(draw):
    K = draw(st.integers(1, 12))
    label = draw(st.integers(0, K - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 5.0]))
    return K, label, scale, draw(seeds)


# --------------------------------------------------------------------------- the loss kernel


@FAST
@given(case=ce_cases(), eps=epsilons, dtype=dtypes)
def test_smoothed_ce_matches_naive(case, eps, dtype):
    K, label, scale, seed = case
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(K) * scale).astype(dtype)
    grad = (rng.standard_normal(K) * 1e3 + 7).astype(dtype)  # garbage: must be overwritten
    got = softmax_ce_smoothed_loss(z, label, eps, grad)
    want, want_grad = naive.softmax_ce_smoothed(z, label, eps)
    tol = {np.float64: 1e-13, np.float32: 2e-6}[dtype]
    mag = max(1.0, float(np.abs(z).max()))
    assert abs(got - want) <= tol * mag, (got, want)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=tol * mag)
    # the dispatcher takes the same path
    grad2 = np.empty(K, dtype)
    assert loss_forward_backward(CE, z, label, grad2, eps) == (got if eps else softmax_ce_loss(z, label, grad2))


@FAST
@given(case=ce_cases(), eps=epsilons)
def test_smoothed_ce_gradient_finite_differences(case, eps):
    K, label, scale, seed = case
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(K) * scale
    scratch = np.empty(K)
    grad = np.empty(K)
    loss_forward_backward(CE, z, label, grad, eps)
    h = 1e-3
    for k in range(K):
        e = np.zeros(K)
        e[k] = h

        def L(t):
            return loss_forward_backward(CE, z + t * e, label, scratch, eps)

        fd = (-L(2) + 8 * L(1) - 8 * L(-1) + L(-2)) / 12 / h  # fourth-order central stencil
        assert abs(fd - grad[k]) <= 1e-8 * max(1.0, np.abs(grad).max()), (k, fd, grad[k])


@FAST
@given(case=ce_cases(), dtype=dtypes)
def test_zero_smoothing_is_plain_ce_bit_for_bit(case, dtype):
    K, label, scale, seed = case
    z = (np.random.default_rng(seed).standard_normal(K) * scale).astype(dtype)
    g1, g2 = np.empty(K, dtype), np.empty(K, dtype)
    assert loss_forward_backward(CE, z, label, g1, 0.0) == softmax_ce_loss(z, label, g2)
    np.testing.assert_array_equal(g1, g2)
    g3 = np.empty(K, dtype)
    assert loss_forward_backward(CE, z, label, g3) == softmax_ce_loss(z, label, g2)  # the default
    np.testing.assert_array_equal(g3, g2)


@FAST
@given(case=ce_cases(), eps=epsilons)
def test_smoothed_ce_is_the_mixture_of_plain_ce_over_labels(case, eps):
    """L_eps(label) = (1 - eps) L(label) + eps/K sum_j L(j): the target is that mixture."""
    K, label, scale, seed = case
    z = np.random.default_rng(seed).standard_normal(K) * scale
    g = np.empty(K)
    plain = [softmax_ce_loss(z, j, g) for j in range(K)]
    want = (1 - eps) * plain[label] + eps / K * sum(plain)
    assert softmax_ce_smoothed_loss(z, label, eps, g) == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert abs(g.sum()) <= 1e-12  # softmax and the target both sum to 1


@FAST
@given(K=st.integers(2, 12), data=st.data(), eps=epsilons)
def test_smoothed_ce_is_stable_for_huge_logits(K, data, eps):
    signs = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=K, max_size=K)))
    z = 1e4 * signs
    label = data.draw(st.integers(0, K - 1))
    grad = np.empty(K)
    got = softmax_ce_smoothed_loss(z, label, eps, grad)
    want, want_grad = naive.softmax_ce_smoothed(z, label, eps)
    assert np.isfinite(got) and np.all(np.isfinite(grad))
    assert got == pytest.approx(want, rel=1e-12, abs=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- the update kernel


@FAST
@given(n=st.integers(1, 300), k=st.integers(0, 299), seed=seeds, dtype=dtypes)
def test_uniform_step_update_is_the_plain_update(n, k, seed, dtype):
    """train_chunk takes apply_update_uniform when every step is the same: bit for bit the
    plain update; one differing step (a dead slot's 0, say) sends it to the plain update."""
    rng = np.random.default_rng(seed)
    p, g = (rng.standard_normal(n).astype(dtype) for _ in range(2))
    step = np.full(n, dtype(rng.uniform(1e-4, 0.1)))
    assert uniform_step(step) == (True, step[0])
    a, b = p.copy(), p.copy()
    apply_update_uniform(a, step[0], g)
    apply_update(b, step, g)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, p - step * g)  # NumPy in the same dtype: the same roundings
    if n > 1:
        step[k % n] = 0
        assert uniform_step(step)[0] is False


@FAST
@given(n=st.integers(1, 300), wd=st.sampled_from([1e-5, 1e-3, 0.1, 2.0]), seed=seeds, dtype=dtypes)
def test_decayed_update_matches_naive(n, wd, seed, dtype):
    rng = np.random.default_rng(seed)
    p, step, g = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    step = np.abs(step) * dtype(0.1)
    want = naive.sgd_update_decay(p, step, g, wd)
    got = p.copy()
    apply_update_decay(got, step, g, wd)
    tol = {np.float64: 1e-15, np.float32: 1e-6}[dtype]
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(1.0, float(np.abs(want).max())))
    # zero decay: the plain update (bit for bit in float64; float32 params are updated in
    # float64 arithmetic here, so train_chunk takes apply_update itself when the decay is 0)
    a, b = p.copy(), p.copy()
    apply_update_decay(a, step, g, 0.0)
    apply_update(b, step, g)
    if dtype is np.float64:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * max(1.0, float(np.abs(b).max())))


def test_decay_alone_shrinks_geometrically():
    p = np.array([1.0, -2.0, 0.5])
    for _ in range(10):
        apply_update_decay(p, np.full(3, 0.1), np.zeros(3), 0.5)
    np.testing.assert_allclose(p, np.array([1.0, -2.0, 0.5]) * 0.95 ** 10, rtol=1e-14)


# --------------------------------------------------------------------------- through the network


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=st.sampled_from(["lenet1", "zipcode1989"]), eps=st.sampled_from([0.05, 0.1, 0.5]),
       label=st.integers(0, 9), seed=st.integers(0, 10_000))
def test_network_smoothed_gradient_is_the_mixture_and_matches_finite_differences(arch, eps, label, seed):
    rng = np.random.default_rng(seed)
    m = Model(arch, activation="tanh", output_activation="identity", dtype="float64", seed=seed)
    image = rng.uniform(-1, 1, (16, 16))
    value, grads = m.loss_and_grad(image, label, "ce", label_smoothing=eps)
    # the loss value from the naive network and the naive smoothed CE
    want, _ = naive.softmax_ce_smoothed(naive.model_forward(m, image), label, eps)
    assert value == pytest.approx(want, rel=1e-12)
    # the gradient: the same mixture of the plain-CE gradients of every label
    plain = [m.loss_and_grad(image, j, "ce")[1] for j in range(10)]
    mix = (1 - eps) * plain[label] + eps / 10 * np.sum(plain, axis=0)
    np.testing.assert_allclose(grads, mix, rtol=0, atol=1e-12 * max(1.0, np.abs(grads).max()))
    # finite differences along a random direction, through the whole network
    d = rng.standard_normal(m.n_params)
    p0 = m.params.copy()
    h = 1e-4

    def L(t):
        m.params[:] = p0 + t * h * d
        return m.loss_and_grad(image, label, "ce", label_smoothing=eps)[0]

    fd = (-L(2) + 8 * L(1) - 8 * L(-1) + L(-2)) / 12 / h
    m.params[:] = p0
    an = float(grads @ d)
    assert abs(fd - an) <= 1e-6 * max(1.0, abs(an)), (fd, an)


# --------------------------------------------------------------------------- train() against its twin


def naive_sgd(model, x, y, rates, epochs, seed, wd, eps):
    """Per-sample SGD in Python: one loss_and_grad (smoothing as the mixture of plain-CE
    gradients) and one naive decayed update per sample; returns the running losses."""
    running = []
    for epoch in range(epochs):
        lr = rates[min(epoch, len(rates) - 1)]
        total = 0.0
        for i in presentation_order(len(y), epoch, seed, True):
            plain = [model.loss_and_grad(x[i], j, "ce") for j in range(10)]
            value = (1 - eps) * plain[y[i]][0] + eps / 10 * sum(v for v, _ in plain)
            grads = (1 - eps) * plain[y[i]][1] + eps / 10 * np.sum([g for _, g in plain], axis=0)
            total += value
            model.params[:] = naive.sgd_update_decay(model.params, np.full(model.n_params, lr), grads, wd)
        running.append(total / len(y))
    return running


@pytest.mark.parametrize("arch", ["lenet1", "zipcode1989"])
@pytest.mark.parametrize("wd, eps", [(1e-3, 0.0), (0.0, 0.1), (3e-2, 0.2)])
def test_train_matches_python_loop(arch, wd, eps):
    x, y = synthetic(40, seed=2)
    a = Model(arch, activation="tanh", output_activation="identity", dtype="float64", seed=3)
    b = a.copy()
    rates = [0.02, 0.01]
    result = train(a, x, y, epochs=2, lr=rates, loss="ce", shuffle=True, seed=5, weight_decay=wd,
                   label_smoothing=eps)
    running = naive_sgd(b, x, y, rates, 2, 5, wd, eps)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-11, atol=1e-12)
    for ep, want in zip(result.history, running):
        assert ep.running_loss == pytest.approx(want, rel=1e-11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zero_regularization_is_bit_identical_to_none(dtype):
    x, y = synthetic(50, seed=4)
    runs = []
    for kw in ({}, dict(weight_decay=0.0, label_smoothing=0.0)):
        m = Model("lenet1", activation="tanh", output_activation="identity", dtype=dtype, seed=1)
        train(m, x, y, epochs=2, lr=0.03, loss="ce", shuffle=True, seed=2, augment=RECIPES["modern"], **kw)
        runs.append(m.params.tobytes())
    assert runs[0] == runs[1]
    m = Model("lenet1", activation="tanh", output_activation="identity", dtype=dtype, seed=1)
    train(m, x, y, epochs=2, lr=0.03, loss="ce", shuffle=True, seed=2, augment=RECIPES["modern"],
          weight_decay=1e-3)
    assert m.params.tobytes() != runs[0]  # and it does something


@pytest.mark.parametrize("kw, fragment", [
    (dict(weight_decay=-1e-3), "weight_decay"),
    (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(label_smoothing=-0.1), "label_smoothing"),
    (dict(label_smoothing=0.1, loss="mse"), "cross-entropy"),
])
def test_train_refuses_bad_values(kw, fragment):
    x, y = synthetic(5, seed=0)
    kw = {"loss": "ce", **kw}
    with pytest.raises(UsageError, match=fragment):
        train(Model("lenet1", seed=0), x, y, epochs=1, **kw)


@pytest.mark.parametrize("overrides, fragment", [
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(label_smoothing=1.5), "label_smoothing"),
    (dict(label_smoothing=0.1, loss="mse"), "label_smoothing"),
])
def test_recipe_validate_refuses_bad_values(overrides, fragment):
    with pytest.raises(UsageError, match=fragment):
        RECIPES["modern"].with_overrides(**overrides).validate()


def test_defaults_are_off():
    for r in RECIPES.values():
        if r.name != "modern":
            assert r.weight_decay == 0.0 and r.label_smoothing == 0.0


# --------------------------------------------------------------------------- CLI, checkpoint, resume


def test_cli_options_reach_the_recipe_and_the_checkpoint(small_data, tmp_path):
    ckpt = tmp_path / "c.npz"
    assert_ok(invoke("train", "--recipe", "article", "--epochs", 1, "--weight-decay", "0.002",
                     "--label-smoothing", "0.1", "--out", ckpt))
    _, meta, _ = load_checkpoint(ckpt)
    assert meta["recipe"]["weight_decay"] == 0.002 and meta["recipe"]["label_smoothing"] == 0.1
    # a resumed run keeps them, and refuses a different value
    assert_user_error(invoke("train", "--resume", ckpt, "--out", ckpt, "--epochs", 2, "--weight-decay", "0.001"),
                      2, "--weight-decay")
    assert_user_error(invoke("train", "--resume", ckpt, "--out", ckpt, "--epochs", 2, "--label-smoothing", "0"),
                      2, "--label-smoothing")
    assert_ok(invoke("train", "--resume", ckpt, "--out", ckpt, "--epochs", 2, "--weight-decay", "0.002"))
    assert load_checkpoint(ckpt)[1]["recipe"]["weight_decay"] == 0.002


def test_cli_refuses_bad_values(small_data):
    assert_user_error(invoke("train", "--recipe", "article", "--epochs", 1, "--weight-decay", "-1"),
                      2, "weight_decay must be a number in [0, 1]")
    assert_user_error(invoke("train", "--recipe", "article", "--epochs", 1, "--label-smoothing", "1"),
                      2, "label_smoothing")
    assert_user_error(invoke("train", "--recipe", "article", "--epochs", 1, "--loss", "mse", "--label-smoothing", "0.1"),
                      2, "label_smoothing")


def test_resume_mid_pass_with_regularization_is_bit_identical(small_data, tmp_path):
    def cfg(out, **kw):
        return TrainConfig.from_options(recipe="modern", seed=2, overrides=dict(epochs=2, weight_decay=2e-3, label_smoothing=0.1),
                           out=str(out), chunk_size=100, **kw)

    run(cfg(tmp_path / "ref.npz"))
    count = {"n": 0}

    def on_chunk(epoch, done, total):
        count["n"] += 1

    s = run(cfg(tmp_path / "c.npz"), on_chunk=on_chunk, should_stop=lambda: count["n"] >= 9)
    assert s["interrupted"] and s["epochs"] == 1
    run(cfg(tmp_path / "c.npz", resume=str(tmp_path / "c.npz")))
    ref, got = load_checkpoint(tmp_path / "ref.npz")[0], load_checkpoint(tmp_path / "c.npz")[0]
    assert {k: v.tobytes() for k, v in got.items()} == {k: v.tobytes() for k, v in ref.items()}
