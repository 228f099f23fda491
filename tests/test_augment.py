"""Seeded augmentation (kernels/augment.py): purity, identity at zero strength, range,
the plumbing from a Recipe to the vector the compiled training loop reads, and the
compiled kernel against its slow NumPy twin (tests/naive.py):

* the splitmix64 draws bit for bit (and splitmix64 against its published reference values);
* bilinear sampling, the elastic field and the whole distortion (drawn shift, rotation,
  scale, shear, stretch, elastic field) for random images of random sizes, float64 to
  1e-12, float32 to 1e-6 (the kernel sums in float64 and rounds once);
* geometric invariants: an integer shift moves the image exactly (and a drawn shift tuned
  to an integer D moves a line by D, down / right for D > 0), +-90 / 180 degrees about
  the centre are np.rot90 (a positive angle turns clockwise as displayed, row 0 on top),
  a shear of 2 shifts row r by 2 r - (H - 1) columns, scale 1/2 about the centre of an
  odd-sized image takes every second pixel, zero strengths and elastic alpha 0 are the
  identity.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import naive
from lenet_numba.kernels.augment import (AUG_SIZE, _bilinear, augment_from_vector, augment_image,
                                         distort_image, elastic_field, sample_key, splitmix64,
                                         uniform_pm1, work_size)
from lenet_numba.recipes import RECIPES
from lenet_numba.train import augmentation_vector

# (shift, rotate, scale, shear, stretch, elastic alpha, elastic sigma)
STRONG = (2.0, 12.0, 0.12, 0.2, 0.1, 14.0, 2.5)
ELASTIC_ONLY = (0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 2.0)


def digit(dtype=np.float32, seed=0):
    """A digit-like image in [-1, 1]: background -1, a bright ring, random grey in it."""
    y, x = np.mgrid[0:16, 0:16]
    r = np.hypot(y - 7.5, x - 7.5)
    img = np.where(np.abs(r - 5) < 1.5, 1.0, -1.0)
    img[5:11, 5:11] = np.random.default_rng(seed).uniform(-1, 1, (6, 6))
    return img.astype(dtype)


def scratch(sigma=3.0):
    """The float64 work buffer distort_image needs (large enough for elastic sigma <= 3)."""
    return np.zeros(work_size(16, 16, sigma))


def distort(img, seed, epoch, index, params):
    out = np.empty_like(img)
    distort_image(img, seed, epoch, index, *params, out, scratch(params[-1] if len(params) > 6 else 0.0))
    return out


@pytest.mark.parametrize("params", [STRONG, ELASTIC_ONLY, (0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0),
                                    (0.0, 0.0, 0.0, 0.0, 0.15, 0.0, 0.0)])
def test_pure_function_of_seed_epoch_index(params):
    img = digit()
    a = distort(img, 3, 5, 17, params)
    distort(img, 3, 5, 18, params)          # other calls in between change nothing
    distort(img, 4, 0, 0, params)
    np.testing.assert_array_equal(distort(img, 3, 5, 17, params), a)
    for other in ((4, 5, 17), (3, 6, 17), (3, 5, 18)):
        assert not np.array_equal(distort(img, *other, params), a), other
    assert not np.array_equal(a, img)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_strength_is_identity(dtype):
    img = digit(dtype)
    zero = (0.0,) * 7
    for index in range(5):
        np.testing.assert_array_equal(distort(img, 1, 2, index, zero), img)
    # the elastic field is off when either alpha or sigma is 0
    np.testing.assert_array_equal(distort(img, 1, 2, 0, (0.0,) * 5 + (0.0, 2.5)), img)
    np.testing.assert_array_equal(distort(img, 1, 2, 0, (0.0,) * 5 + (8.0, 0.0)), img)
    out = np.empty_like(img)
    augment_image(img, 1, 2, 3, 0.0, 0.0, 0.0, out)
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("params", [STRONG, ELASTIC_ONLY, (3.0, 30.0, 0.3, 0.5, 0.3, 40.0, 1.0)])
def test_output_stays_in_range(dtype, params):
    tol = 0.0 if dtype == np.float32 else 1e-12
    for k in range(50):
        out = distort(digit(dtype, k), 0, k % 3, k, params)
        assert out.dtype == dtype
        assert np.all(np.isfinite(out))
        assert out.min() >= -1.0 - tol and out.max() <= 1.0 + tol


def test_extra_distortions_at_zero_match_augment_image():
    img = digit()
    a, b = np.empty_like(img), np.empty_like(img)
    for index in range(20):
        augment_image(img, 7, 1, index, 1.5, 8.0, 0.08, a)
        distort_image(img, 7, 1, index, 1.5, 8.0, 0.08, 0.0, 0.0, 0.0, 0.0, b, scratch())
        np.testing.assert_array_equal(a, b)
        # the vector with only [enabled, shift, rotate, scale] set
        augment_from_vector(img, 7, 1, index, np.array([1.0, 1.5, 8.0, 0.08] + [0.0] * (AUG_SIZE - 4)), b, scratch())
        np.testing.assert_array_equal(a, b)


def test_vector_matches_direct_call():
    img = digit()
    vec = np.array((1.0,) + STRONG + (0.0,))
    assert vec.shape == (AUG_SIZE,)
    a = np.empty_like(img)
    augment_from_vector(img, 2, 3, 4, vec, a, scratch())
    np.testing.assert_array_equal(a, distort(img, 2, 3, 4, STRONG))


def test_elastic_field_is_smooth_and_scales_with_alpha():
    f1, f2 = np.empty((2, 16, 16)), np.empty((2, 16, 16))
    fields = []
    for i in range(100):
        key = np.uint64(sample_key(0, 0, i))
        elastic_field(key, 16, 16, 1.0, 2.5, f1, scratch())
        elastic_field(key, 16, 16, 3.0, 2.5, f2, scratch())
        np.testing.assert_allclose(f2, 3.0 * f1, rtol=1e-12, atol=1e-15)
        fields.append(f1.copy())
    fields = np.array(fields)
    rms = np.sqrt(np.mean(fields ** 2))
    assert 0.04 < rms < 0.1                                   # ~0.066 per unit alpha at sigma 2.5
    step = np.sqrt(np.mean(np.diff(fields, axis=3) ** 2))     # neighbours are strongly correlated
    assert step < 0.3 * rms
    border, middle = np.sqrt(np.mean(fields[..., 0] ** 2)), np.sqrt(np.mean(fields[..., 8] ** 2))
    assert 0.7 < border / middle < 1.4                        # no shrinking at the edges


def test_recipe_fields_reach_the_vector():
    r = RECIPES["modern"].with_overrides(max_shear=0.1, max_stretch=0.05, elastic_alpha=9.0, elastic_sigma=2.0)
    vec = augmentation_vector(r)
    assert vec.shape == (AUG_SIZE,)
    np.testing.assert_array_equal(vec, [1.0, r.max_shift, r.max_rotate, r.max_scale, 0.1, 0.05, 9.0, 2.0,
                                        r.augment_epochs])
    np.testing.assert_array_equal(augmentation_vector(None), np.zeros(AUG_SIZE))
    np.testing.assert_array_equal(augmentation_vector(RECIPES["1989"]), np.zeros(AUG_SIZE))


def test_augment_epochs_stops_distorting_after_that_many_passes():
    img = digit()
    vec = np.array((1.0,) + STRONG + (3.0,))
    out = np.empty_like(img)
    for epoch in range(3):
        augment_from_vector(img, 0, epoch, 5, vec, out, scratch())
        np.testing.assert_array_equal(out, distort(img, 0, epoch, 5, STRONG))
    for epoch in (3, 4, 10):
        augment_from_vector(img, 0, epoch, 5, vec, out, scratch())
        np.testing.assert_array_equal(out, img)
    vec[-1] = 0.0                                   # 0: every pass is distorted
    augment_from_vector(img, 0, 10, 5, vec, out, scratch())
    np.testing.assert_array_equal(out, distort(img, 0, 10, 5, STRONG))


# ---------------------------------------------------------------- compiled == naive twin

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ATOL = {np.float64: 1e-12, np.float32: 1e-6}
dtypes = st.sampled_from([np.float64, np.float32])
seeds = st.integers(0, 2**63 - 1)
small = st.integers(0, 2**31 - 1)
sizes = st.integers(1, 20)


def strength(lo, hi):
    """0 (so the branches that skip a part run too) or a value in [lo, hi]."""
    return st.one_of(st.just(0.0), st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def random_image(H, W, dtype, rng_seed):
    rng = np.random.default_rng(rng_seed)
    img = rng.uniform(-1.0, 1.0, (H, W))
    img[rng.random((H, W)) < 0.2] = -1.0           # some exact background and ink
    img[rng.random((H, W)) < 0.1] = 1.0
    return img.astype(dtype)


def compiled_distort(img, seed, epoch, index, params):
    """distort_image into a NaN-filled output; the scratch buffer is exactly work_size long and
    full of garbage with the elastic part on, and empty without it (the docstring's promise)."""
    out = np.full_like(img, np.nan)
    alpha, sigma = params[5], params[6]
    if alpha != 0.0 and sigma > 0.0:
        work = np.random.default_rng(1).normal(0.0, 1e3, work_size(img.shape[0], img.shape[1], sigma))
    else:
        work = np.empty(0)
    distort_image(img, seed, epoch, index, *params, out, work)
    return out


def assert_close(got, want, dtype, what=""):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    err = np.abs(got - want)
    assert np.all(err <= ATOL[dtype]), f"{what}: worst |err| {np.nanmax(err):.3g} at {np.argmax(err)}"


def test_splitmix64_reference_values():
    # the first outputs of Vigna's splitmix64 seeded with 0 (states 1, 2, 3 x the golden gamma)
    gamma = 0x9E3779B97F4A7C15
    reference = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    for k, want in enumerate(reference):
        state = (k * gamma) % 2**64
        assert naive.splitmix64(state) == want
        assert int(splitmix64(np.uint64(state))) == want


@FAST
@given(seed=seeds, epoch=small, index=small, k=st.integers(0, 10_000))
def test_draws_bit_identical_to_naive(seed, epoch, index, k):
    key = naive.sample_key(seed, epoch, index)
    assert int(sample_key(seed, epoch, index)) == key
    u = uniform_pm1(seed, epoch, index, k)
    assert u == naive.uniform_draw(key, k)
    assert -1.0 <= u < 1.0


@FAST
@given(H=sizes, W=sizes, dtype=dtypes, rng_seed=small, data=st.data())
def test_bilinear_matches_naive(H, W, dtype, rng_seed, data):
    img = random_image(H, W, dtype, rng_seed)
    for _ in range(20):
        sy = data.draw(st.one_of(st.floats(-3.0, H + 2.0), st.integers(-3, H + 2).map(float),
                                 st.integers(-6, 2 * H + 4).map(lambda v: v / 2.0)))
        sx = data.draw(st.one_of(st.floats(-3.0, W + 2.0), st.integers(-3, W + 2).map(float),
                                 st.integers(-6, 2 * W + 4).map(lambda v: v / 2.0)))
        got, want = _bilinear(img, sy, sx), naive.bilinear(img, sy, sx)
        assert abs(got - want) <= 1e-12, (sy, sx, got, want)     # sums in float64 either way
        # a convex mix of values in [-1, 1]: in range up to rounding (weights summing to 1 + ulp)
        assert -1.0 - 1e-12 <= got <= 1.0 + 1e-12


@FAST
@given(H=sizes, W=sizes, seed=seeds, index=small, alpha=st.floats(-64.0, 64.0),
       sigma=st.floats(0.05, 8.0))
def test_elastic_field_matches_naive(H, W, seed, index, alpha, sigma):
    # np.uint64: sample_key returns a Python int, and a Python int key makes numba compile an
    # int64 specialization of the hash that computes something else (the kernel only ever
    # passes uint64)
    key = np.uint64(sample_key(seed, 0, index))
    field = np.full((2, H, W), np.nan)
    work = np.random.default_rng(0).normal(0.0, 1e3, work_size(H, W, sigma))
    elastic_field(key, H, W, alpha, sigma, field, work[2 * H * W:])
    want = naive.elastic_field(naive.elastic_noise(int(key), H, W, sigma), alpha, sigma)
    assert_close(field, want, np.float64, "elastic field")


@FAST
@given(H=sizes, W=sizes, dtype=dtypes, rng_seed=small, seed=seeds, epoch=st.integers(0, 1000), index=small,
       shift=strength(0.0, 8.0), rotate=strength(-180.0, 180.0), scale=strength(0.0, 0.9),
       shear=strength(-1.0, 1.0), stretch=strength(0.0, 0.9), alpha=strength(-64.0, 64.0),
       sigma=strength(0.05, 8.0))   # up to recipes.DISTORTION_LIMITS (and negative where it matters)
def test_distort_image_matches_naive(H, W, dtype, rng_seed, seed, epoch, index, shift, rotate, scale, shear,
                                     stretch, alpha, sigma):
    img = random_image(H, W, dtype, rng_seed)
    params = (shift, rotate, scale, shear, stretch, alpha, sigma)
    out = compiled_distort(img, seed, epoch, index, params)
    assert out.dtype == dtype
    assert_close(out, naive.distort_image(img, seed, epoch, index, *params), dtype, "distort_image")
    assert np.all(np.abs(out) <= 1.0 + 1e-12)
    if shear == 0.0 and stretch == 0.0 and alpha == 0.0:
        b = np.full_like(img, np.nan)
        augment_image(img, seed, epoch, index, shift, rotate, scale, b)
        np.testing.assert_array_equal(b, out)


@FAST
@given(dtype=dtypes, rng_seed=small, seed=seeds, epoch=st.integers(0, 12), index=small,
       epochs=st.sampled_from([0.0, 1.0, 3.0, 7.5]),
       strengths=st.tuples(strength(0.0, 3.0), strength(-30.0, 30.0), strength(0.0, 0.3), strength(-0.5, 0.5),
                           strength(0.0, 0.3), strength(-20.0, 20.0), strength(0.1, 3.0)))
def test_augment_from_vector_matches_naive(dtype, rng_seed, seed, epoch, index, epochs, strengths):
    img = random_image(16, 16, dtype, rng_seed)
    aug = np.array((1.0,) + strengths + (epochs,))
    assert aug.shape == (AUG_SIZE,)
    out = np.full_like(img, np.nan)
    augment_from_vector(img, seed, epoch, index, aug, out, np.zeros(work_size(16, 16, aug[7])))
    assert_close(out, naive.augment_from_vector(img, seed, epoch, index, aug), dtype, "augment_from_vector")


# ---------------------------------------------------------------- geometric invariants


def tuned(target, seed, epoch, index, k):
    """A max strength s with s * u_k == target (to the last bit or two) for this sample."""
    u = uniform_pm1(seed, epoch, index, k)
    assume(abs(u) > 0.05)
    return target / u


def shifted(img, dy, dx):
    """img moved down by dy and right by dx pixels, background -1 where nothing lands."""
    H, W = img.shape
    out = np.full((H, W), -1.0, img.dtype)
    for r in range(H):
        for q in range(W):
            if 0 <= r - dy < H and 0 <= q - dx < W:
                out[r, q] = img[r - dy, q - dx]
    return out


@FAST
@given(H=sizes, W=sizes, dtype=dtypes, rng_seed=small, data=st.data())
def test_integer_shift_moves_the_image_exactly(H, W, dtype, rng_seed, data):
    img = random_image(H, W, dtype, rng_seed)
    dy = data.draw(st.integers(-H - 1, H + 1))
    dx = data.draw(st.integers(-W - 1, W + 1))
    want = shifted(img, dy, dx)
    # the compiled sampler at every output pixel's integer source point
    got = np.array([[_bilinear(img, float(r - dy), float(q - dx)) for q in range(W)] for r in range(H)])
    np.testing.assert_array_equal(got.astype(dtype), want)
    # the naive affine map with an explicit shift (same convention as the compiled one, above)
    src = naive.affine_source(H, W, shift=(float(dy), float(dx)))
    np.testing.assert_array_equal(naive.warp(img, src).astype(dtype), want)



@FAST
@given(H=sizes, W=sizes, rng_seed=small, seed=seeds, index=small, axis=st.sampled_from([0, 1]), data=st.data())
def test_drawn_integer_shift_moves_a_line_by_that_many_pixels(H, W, rng_seed, seed, index, axis, data):
    """Through distort_image: max_shift tuned so the drawn shift along ``axis`` is an integer D
    (the other axis gets whatever the draw gives): ink on line k (row k for axis 0, column k
    for axis 1) lands on line k + D (down / right for D > 0), every other line is background."""
    n = (H, W)[axis]
    k = data.draw(st.integers(0, n - 1))
    D = data.draw(st.integers(-n, n))
    img = np.full((H, W), -1.0)
    line = np.random.default_rng(rng_seed).uniform(0.0, 1.0, (W, H)[axis])
    if axis == 0:
        img[k, :] = line
    else:
        img[:, k] = line
    max_shift = tuned(float(D), seed, 3, index, axis)
    out = compiled_distort(img, seed, 3, index, (max_shift, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    lines = out if axis == 0 else out.T
    for j in range(n):
        if j != k + D:
            assert_close(lines[j], -1.0 + 0.0 * lines[j], np.float64, f"line {j}")
    other = max_shift * uniform_pm1(seed, 3, index, 1 - axis)   # the shift along the line
    if 0 <= k + D < n and abs(other) < 0.5:                        # ink (>= 0) weighs >= 1/2 somewhere
        assert lines[k + D].max() >= -0.5 - 1e-12


@FAST
@given(n=sizes, dtype=dtypes, rng_seed=small, seed=seeds, index=small, turns=st.sampled_from([1, -1, 2]))
def test_quarter_turns_about_the_centre_are_rot90(n, dtype, rng_seed, seed, index, turns):
    """+90 degrees (a positive angle) turns the picture clockwise as displayed: np.rot90(img, -1)."""
    img = random_image(n, n, dtype, rng_seed)
    max_rotate = tuned(90.0 * turns, seed, 4, index, 2)
    out = compiled_distort(img, seed, 4, index, (0.0, max_rotate, 0.0, 0.0, 0.0, 0.0, 0.0))
    want = np.rot90(img, -turns)
    assert_close(out, want, dtype, f"{90 * turns} degrees")
    assert_close(naive.warp(img, naive.affine_source(n, n, angle=np.pi / 2 * turns)), want, np.float64)


@FAST
@given(H=sizes, W=sizes, dtype=dtypes, rng_seed=small, seed=seeds, index=small)
def test_half_turn_of_a_rectangle_flips_both_axes(H, W, dtype, rng_seed, seed, index):
    img = random_image(H, W, dtype, rng_seed)
    max_rotate = tuned(180.0, seed, 0, index, 2)
    out = compiled_distort(img, seed, 0, index, (0.0, max_rotate, 0.0, 0.0, 0.0, 0.0, 0.0))
    assert_close(out, img[::-1, ::-1], dtype, "180 degrees")


def test_positive_angle_turns_clockwise_on_a_16x16_digit():
    """Spelled out on one picture: ink right of the centre ends up below it."""
    img = np.full((16, 16), -1.0)
    img[7, 12] = 1.0                               # right of the centre (7.5, 7.5), just above it
    u = uniform_pm1(0, 0, 0, 2)
    assert abs(u) > 0.05
    max_rotate = 90.0 / u
    out = compiled_distort(img, 0, 0, 0, (0.0, max_rotate, 0.0, 0.0, 0.0, 0.0, 0.0))
    r, q = np.unravel_index(np.argmax(out), out.shape)
    assert (r, q) == (12, 8) and abs(out[r, q] - 1.0) < 1e-12
    assert_close(out, np.rot90(img, -1), np.float64)
    assert_close(compiled_distort(digit(np.float64), 0, 0, 0, (0.0, max_rotate, 0.0, 0.0, 0.0, 0.0, 0.0)),
                 np.rot90(digit(np.float64), -1), np.float64)


@FAST
@given(H=sizes, W=sizes, dtype=dtypes, rng_seed=small, seed=seeds, index=small)
def test_shear_two_shifts_each_row_by_twice_its_offset(H, W, dtype, rng_seed, seed, index):
    """shear maps (y, x) -> (y, x + shear y) about the centre: with shear 2, row r moves right by
    2 (r - (H - 1) / 2) = 2 r - (H - 1) columns (an integer, so no blur)."""
    img = random_image(H, W, dtype, rng_seed)
    max_shear = tuned(2.0, seed, 1, index, 4)
    out = compiled_distort(img, seed, 1, index, (0.0, 0.0, 0.0, max_shear, 0.0, 0.0, 0.0))
    want = np.full_like(img, -1.0)
    for r in range(H):
        want[r] = shifted(img[r:r + 1], 0, 2 * r - (H - 1))[0]
    assert_close(out, want, dtype, "shear 2")


@FAST
@given(h=st.integers(0, 9), w=st.integers(0, 9), dtype=dtypes, rng_seed=small, seed=seeds, index=small)
def test_half_scale_about_the_centre_takes_every_second_pixel(h, w, dtype, rng_seed, seed, index):
    """scale 1/2 (odd sizes, so the centre is a pixel): out[c + i, c + j] = img[c + 2i, c + 2j]."""
    H, W = 2 * h + 1, 2 * w + 1
    img = random_image(H, W, dtype, rng_seed)
    max_scale = tuned(-0.5, seed, 2, index, 3)
    out = compiled_distort(img, seed, 2, index, (0.0, 0.0, max_scale, 0.0, 0.0, 0.0, 0.0))
    want = np.full_like(img, -1.0)
    for r in range(H):
        for q in range(W):
            y, x = 2 * r - h, 2 * q - w
            if 0 <= y < H and 0 <= x < W:
                want[r, q] = img[y, x]
    assert_close(out, want, dtype, "scale 1/2")


@FAST
@given(H=sizes, W=sizes, dtype=dtypes, rng_seed=small, seed=seeds, epoch=small, index=small,
       sigma=st.floats(0.05, 3.5))
def test_zero_strengths_and_zero_alpha_are_the_identity(H, W, dtype, rng_seed, seed, epoch, index, sigma):
    img = random_image(H, W, dtype, rng_seed)
    np.testing.assert_array_equal(compiled_distort(img, seed, epoch, index, (0.0,) * 7), img)
    np.testing.assert_array_equal(compiled_distort(img, seed, epoch, index, (0.0,) * 6 + (sigma,)), img)
    field = np.full((2, H, W), np.nan)
    key = np.uint64(sample_key(seed, epoch, index))
    elastic_field(key, H, W, 0.0, sigma, field, np.zeros(work_size(H, W, sigma)))
    np.testing.assert_array_equal(field, 0.0)
    # the twin's pieces too: no parameters = the pixel grid, alpha 0 = no displacement
    np.testing.assert_array_equal(naive.warp(img, naive.affine_source(H, W)), img)
    np.testing.assert_array_equal(naive.elastic_field(naive.elastic_noise(1, H, W, sigma), 0.0, sigma), 0.0)
