"""The 16-images-per-vector forward (kernels/lanes.py, inference.py) against the one-image
engine and the naive twins.

* Each lane kernel, on 16 different inputs at once, gives for every lane the same bits as
  the one-image kernel on that input (they add the same terms in the same order), and
  agrees with tests/naive.py to rounding.
* forward_batch gives, image by image, the bits of network.forward, for every network and
  dtype and for set sizes that leave the last group of 16 partly empty (or empty).
* The gradient of a loss of predict's outputs, by central finite differences in float64,
  is the engine's backward: the batched forward is the function the training step
  differentiates.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from lenet_numba.architectures import ARCHITECTURES
from lenet_numba.inference import forward_batch, lane_buffers
from lenet_numba.kernels.conv import conv2d_forward
from lenet_numba.kernels.dense import dense_forward
from lenet_numba.kernels.lanes import (conv2d_forward_lanes, conv2d_forward_lanes_fast, dense_forward_lanes,
                                       pad_forward_lanes, subsample_forward_lanes)
from lenet_numba.kernels.pad import pad_forward
from lenet_numba.kernels.simd import LANES
from lenet_numba.kernels.subsample import subsample_forward
from lenet_numba.model import Model
from lenet_numba.network import forward, load_input, output_view

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


def to_lanes(batch):
    """(LANES, *shape) -> the lane layout: unit u of image l at u * LANES + l."""
    return np.ascontiguousarray(np.moveaxis(batch, 0, -1)).reshape(-1)


def from_lanes(buf, shape):
    return np.moveaxis(buf.reshape(*shape, LANES), -1, 0)


def assert_same_bits(got, want, what):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    diff = np.ascontiguousarray(got).view(np.uint8) != np.ascontiguousarray(want).view(np.uint8)
    assert not diff.any(), f"{what}: {np.count_nonzero(got != want)} values differ"


def assert_close(got, want, magnitude, dtype, what):
    err = np.abs(np.asarray(got, np.float64) - want)
    assert (err <= RTOL[dtype] * (magnitude + 1e-30)).all(), f"{what}: worst |err| {err.max():.3g}"


@st.composite
def conv_cases(draw):
    """The networks' shapes (5x5 kernels, stride 1 or 2, output rows of 4, 8, 16: the
    register-blocked paths) and others (every kernel size, rows that leave a remainder
    of the 4-output blocks), full or partial connection tables, shared or per-unit biases."""
    K = draw(st.sampled_from([5, 5, 5, 1, 2, 3, 4]))
    stride = draw(st.sampled_from([1, 2]))
    C_in, C_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H_out, W_out = draw(st.integers(1, 6)), draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 16]))
    n_conn = draw(st.integers(1, C_in))
    conn = np.array([draw(st.permutations(range(C_in)))[:n_conn] for _ in range(C_out)], np.int64)
    return dict(C_in=C_in, C_out=C_out, K=K, stride=stride, H_out=H_out, W_out=W_out, conn=conn,
                bias_per_unit=draw(st.booleans()), seed=draw(seeds))


def conv_arrays(case, dtype):
    """(x: LANES images, w, b, H, W, stride, H_out, W_out, C_out) of a conv_cases case."""
    rng = np.random.default_rng(case["seed"])
    K, s, Ho, Wo, Co = case["K"], case["stride"], case["H_out"], case["W_out"], case["C_out"]
    H, W = (Ho - 1) * s + K, (Wo - 1) * s + K
    x = rng.uniform(-1, 1, (LANES, case["C_in"], H, W)).astype(dtype)
    w = rng.uniform(-1, 1, (Co, case["conn"].shape[1], K, K)).astype(dtype)
    b = rng.uniform(-1, 1, Co * Ho * Wo if case["bias_per_unit"] else Co).astype(dtype)
    return x, w, b, H, W, s, Ho, Wo, Co


@FAST
@given(case=conv_cases(), dtype=dtypes)
def test_conv_lanes_give_each_image_the_one_image_bits(case, dtype):
    x, w, b, H, W, s, Ho, Wo, Co = conv_arrays(case, dtype)
    y = np.full(Co * Ho * Wo * LANES, np.nan, dtype)
    conv2d_forward_lanes(to_lanes(x), H, W, w, b, case["conn"], s, case["bias_per_unit"], y, Ho, Wo)
    got = from_lanes(y, (Co, Ho, Wo))
    for lane in range(LANES):
        want = np.full((Co, Ho, Wo), np.nan, dtype)
        conv2d_forward(x[lane], w, b, case["conn"], s, case["bias_per_unit"], want)
        assert_same_bits(got[lane], want, f"lane {lane}")
        twin = naive.conv2d_forward(x[lane], w, b, case["conn"], s, case["bias_per_unit"])
        mag = naive.conv2d_forward(np.abs(x[lane]), np.abs(w), np.abs(b), case["conn"], s, case["bias_per_unit"])
        assert_close(got[lane], twin, mag, dtype, f"lane {lane} against the naive twin")


@FAST
@given(C=st.integers(1, 4), H=st.integers(1, 9), W=st.integers(1, 9), pad=st.integers(0, 3),
       value=st.sampled_from([0.0, -1.0, 0.5]), dtype=dtypes, seed=seeds)
def test_pad_lanes_give_each_image_the_one_image_bits(C, H, W, pad, value, dtype, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, (LANES, C, H, W)).astype(dtype)
    shape = (C, H + 2 * pad, W + 2 * pad)
    xp = np.full(int(np.prod(shape)) * LANES, np.nan, dtype)
    pad_forward_lanes(to_lanes(x), C, H, W, pad, value, xp)
    got = from_lanes(xp, shape)
    for lane in range(LANES):
        want = np.full(shape, np.nan, dtype)
        pad_forward(x[lane], pad, value, want)
        assert_same_bits(got[lane], want, f"lane {lane}")
        np.testing.assert_array_equal(got[lane], naive.pad_forward(x[lane], pad, value))


@FAST
@given(C=st.integers(1, 5), H=st.integers(2, 17), W=st.integers(2, 17), dtype=dtypes, seed=seeds)
def test_subsample_lanes_give_each_image_the_one_image_bits(C, H, W, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (LANES, C, H, W)).astype(dtype)
    alpha, beta = rng.uniform(-2, 2, C).astype(dtype), rng.uniform(-1, 1, C).astype(dtype)
    shape = (C, H // 2, W // 2)
    y = np.full(int(np.prod(shape)) * LANES, np.nan, dtype)
    subsample_forward_lanes(to_lanes(x), H, W, alpha, beta, y, H // 2, W // 2)
    got = from_lanes(y, shape)
    for lane in range(LANES):
        want = np.full(shape, np.nan, dtype)
        subsample_forward(x[lane], alpha, beta, want)
        assert_same_bits(got[lane], want, f"lane {lane}")
        twin = naive.subsample_forward(x[lane], alpha, beta)
        mag = naive.subsample_forward(np.abs(x[lane]), np.abs(alpha), np.abs(beta))
        assert_close(got[lane], twin, mag, dtype, f"lane {lane} against the naive twin")


@FAST
@given(n_in=st.integers(1, 70), n_out=st.integers(1, 12), dtype=dtypes, seed=seeds)
def test_dense_lanes_give_each_image_the_one_image_bits(n_in, n_out, dtype, seed):
    """n_in from 1 to past four vectors: every tail of kernels/dense.py's partial sums."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (LANES, n_in)).astype(dtype)
    w, b = rng.uniform(-1, 1, (n_out, n_in)).astype(dtype), rng.uniform(-1, 1, n_out).astype(dtype)
    y = np.full(n_out * LANES, np.nan, dtype)
    dense_forward_lanes(to_lanes(x), w, b, y, np.full(LANES * LANES, np.nan, dtype))
    got = from_lanes(y, (n_out,))
    for lane in range(LANES):
        want = np.full(n_out, np.nan, dtype)
        dense_forward(x[lane], w, b, want)
        assert_same_bits(got[lane], want, f"lane {lane}")
        twin = naive.dense_forward(x[lane], w, b)
        assert_close(got[lane], twin, naive.dense_forward(np.abs(x[lane]), np.abs(w), np.abs(b)), dtype,
                     f"lane {lane} against the naive twin")


def one_image_outputs(model, images):
    acts = np.zeros(model.plan.n_acts, model.dtype)
    out = np.empty((len(images), model.plan.n_outputs), model.dtype)
    for n, image in enumerate(images):
        load_input(image, acts)
        forward(model.table, model.pad_values, model.conn, model.params, acts)
        out[n] = output_view(model.table, acts)
    return out


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_batch_gives_each_image_the_one_image_bits(arch, dtype):
    model = Model(arch, dtype=dtype, seed=11)
    rng = np.random.default_rng(5)
    for n in (0, 1, LANES - 1, LANES, LANES + 1, 3 * LANES + 7):
        images = rng.uniform(-1, 1, (n, 16, 16)).astype(dtype)
        assert_same_bits(model.predict(images), one_image_outputs(model, images), f"{arch} {dtype}, {n} images")


@settings(max_examples=10, deadline=None)
@given(arch=st.sampled_from(sorted(ARCHITECTURES)), seed=seeds, n=st.integers(1, 40))
def test_forward_batch_does_not_depend_on_the_other_images_in_its_group(arch, seed, n):
    """An image's outputs are the same whichever images share its vector (or none)."""
    model = Model(arch, dtype="float64", seed=seed % 1000)
    images = np.random.default_rng(seed).uniform(-1, 1, (n, 16, 16))
    alone = np.concatenate([model.predict(images[k:k + 1]) for k in range(n)])
    assert_same_bits(model.predict(images), alone, arch)
    assert_same_bits(model.predict(images[::-1])[::-1], alone, f"{arch}, reversed")


@settings(max_examples=6, deadline=None)
@given(arch=st.sampled_from(sorted(ARCHITECTURES)), seed=seeds)
def test_forward_batch_gradient_is_the_engines_backward(arch, seed):
    """d/dt of the MSE of predict(image) at params + t d equals <grad, d>, grad from the
    engine's backward (central differences, fourth order, float64)."""
    rng = np.random.default_rng(seed)
    model = Model(arch, dtype="float64", seed=seed % 1000)
    image, label = rng.uniform(-1, 1, (16, 16)), int(rng.integers(10))
    _, grad = model.loss_and_grad(image, label, "mse")
    direction = rng.standard_normal(model.n_params) * (grad != 0)  # tied/unused entries stay put
    base = model.params.copy()

    def loss_at(t):
        model.params[:] = base + t * direction
        return naive.mse(model.predict(image)[0], label)[0]

    h = 1e-4
    fd = (8.0 * (loss_at(h) - loss_at(-h)) - (loss_at(2 * h) - loss_at(-2 * h))) / (12.0 * h)
    model.params[:] = base
    an = float(grad @ direction)
    assert abs(fd - an) <= 1e-7 * float(np.abs(grad) @ np.abs(direction)), (fd, an)


# ---- the fast numerics policy's kernels: fused multiply-adds, the same order of terms


@FAST
@given(case=conv_cases(), dtype=dtypes)
def test_fast_conv_lanes_against_the_naive_twin_and_the_exact_lanes(case, dtype):
    x, w, b, H, W, s, Ho, Wo, Co = conv_arrays(case, dtype)
    fast, exact = (np.full(Co * Ho * Wo * LANES, np.nan, dtype) for _ in range(2))
    conv2d_forward_lanes_fast(to_lanes(x), H, W, w, b, case["conn"], s, case["bias_per_unit"], fast, Ho, Wo)
    conv2d_forward_lanes(to_lanes(x), H, W, w, b, case["conn"], s, case["bias_per_unit"], exact, Ho, Wo)
    got = from_lanes(fast, (Co, Ho, Wo))
    for lane in range(LANES):
        twin = naive.conv2d_forward(x[lane], w, b, case["conn"], s, case["bias_per_unit"])
        mag = naive.conv2d_forward(np.abs(x[lane]), np.abs(w), np.abs(b), case["conn"], s, case["bias_per_unit"])
        assert_close(got[lane], twin, mag, dtype, f"lane {lane} against the naive twin")
    assert_close(fast, exact.astype(np.float64), np.abs(exact).max() + 1, dtype, "against the exact lanes")


def test_the_fast_conv_rounds_differently_from_the_exact_one():
    """What makes it the fast policy's: fused multiply-adds round once, so over many sums
    some result differs in its last bits from the exact kernel's (on a CPU with FMA, as
    every x86-64 target the package ships compiled code for)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (LANES, 4, 20, 20)).astype(np.float32)
    w, b = rng.uniform(-1, 1, (12, 4, 5, 5)).astype(np.float32), np.zeros(12, np.float32)
    conn = np.tile(np.arange(4), (12, 1)).astype(np.int64)
    fast, exact = (np.zeros(12 * 16 * 16 * LANES, np.float32) for _ in range(2))
    conv2d_forward_lanes_fast(to_lanes(x), 20, 20, w, b, conn, 1, False, fast, 16, 16)
    conv2d_forward_lanes(to_lanes(x), 20, 20, w, b, conn, 1, False, exact, 16, 16)
    assert np.count_nonzero(fast != exact) > 100
