"""Seeded augmentation (kernels/augment.py): purity, identity at zero strength, range,
and the plumbing from a Recipe to the vector the compiled training loop reads."""

import numpy as np
import pytest

from lenet_numba.kernels.augment import (AUG_SIZE, augment_from_vector, augment_image, distort_image,
                                         elastic_field, sample_key, work_size)
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
        # a 4-long vector [enabled, shift, rotate, scale] still works
        augment_from_vector(img, 7, 1, index, np.array([1.0, 1.5, 8.0, 0.08]), b, scratch())
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
